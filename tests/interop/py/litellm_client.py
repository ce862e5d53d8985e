"""LiteLLM (the Python SDK, not its proxy) as a client, with agentgate as its OpenAI-compatible base.

Run by tests/interop/litellm.test.ts, which seeds the agents of system $AGENTGATE_SYSTEM (writer
answers; broken's upstream answers 500; slow's never answers; truncated's streams are cut) and sets
LITELLM_LOCAL_MODEL_COST_MAP=True, so LiteLLM does not download its price map.
"""

from importlib.metadata import version

import litellm

from interop import agentgate_headers, attempt, describe_error, emit, env

BASE_URL = env("AGENTGATE_BASE_URL")
KEY = env("AGENTGATE_PROXY_KEY")
SYSTEM = env("AGENTGATE_SYSTEM")
SESSION = env("AGENTGATE_SESSION")
MESSAGES = [{"role": "user", "content": "hello from litellm"}]

litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on errors


def complete(agent: str, api_key: str = KEY, messages=MESSAGES, **kwargs):
    # "openai/" makes LiteLLM speak the OpenAI API to api_base; what follows is sent as `model`,
    # here agentgate's "agent:system/agent". Retries off, so each case is one call.
    return litellm.completion(
        model=f"openai/agent:{SYSTEM}/{agent}",
        api_base=BASE_URL,
        api_key=api_key,
        messages=messages,
        extra_headers={"X-Session-Id": SESSION},
        num_retries=0,
        max_retries=0,
        timeout=20,
        **kwargs,
    )


def response_headers(response) -> dict:
    # LiteLLM keeps the server's response headers, prefixed "llm_provider-".
    raw = response._hidden_params.get("additional_headers") or {}
    return agentgate_headers({k.removeprefix("llm_provider-"): v for k, v in raw.items()})


def usage_of(usage) -> dict:
    return {k: getattr(usage, k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def non_streaming():
    response = complete("writer")
    return {
        "content": response.choices[0].message.content,
        "usage": usage_of(response.usage),
        "headers": response_headers(response),
    }


def agent_in_header():
    """The agent in an X-Agent header instead of the model name."""
    response = litellm.completion(
        model="openai/gpt-4o-mini",
        api_base=BASE_URL,
        api_key=KEY,
        messages=MESSAGES,
        extra_headers={"X-Agent": f"{SYSTEM}/writer", "X-Session-Id": SESSION},
        num_retries=0,
        max_retries=0,
    )
    return {"content": response.choices[0].message.content, "headers": response_headers(response)}


def streaming():
    stream = complete(
        "writer",
        messages=[{"role": "user", "content": "stream it please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if getattr(chunk, "usage", None):
            usage = usage_of(chunk.usage)
    return {"text": text, "usage": usage, "headers": response_headers(stream)}


def truncated_stream():
    text = ""
    try:
        stream = complete(
            "truncated",
            messages=[{"role": "user", "content": "a long answer that will be cut"}],
            stream=True,
        )
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except Exception as exc:  # noqa: BLE001 - the test asserts on the class
        return {"error": describe_error(exc), "text_before_error": text}
    return {"ok": text}


emit(
    {
        "litellm_version": version("litellm"),
        "non_streaming": attempt(non_streaming),
        "agent_in_header": attempt(agent_in_header),
        "streaming": attempt(streaming),
        "unknown_agent": attempt(lambda: complete("nobody")),
        "bad_key": attempt(lambda: complete("writer", api_key="sk-not-a-key")),
        "upstream_5xx": attempt(lambda: complete("broken")),
        "upstream_timeout": attempt(lambda: complete("slow")),
        "truncated_stream": truncated_stream(),
    }
)
