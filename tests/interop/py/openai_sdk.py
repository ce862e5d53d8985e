"""The official `openai` Python SDK against agentgate, as an agent developer writes it.

Run by tests/interop/openai-sdk.test.ts, which seeds the agents of system $AGENTGATE_SYSTEM:
  writer     answers normally
  broken     its upstream answers 500        -> 502 upstream_error
  slow       its upstream never answers      -> 504 upstream_timeout
  truncated  its upstream cuts streams short -> an error event in the stream
Prints one JSON object with a result per case; the test asserts on it and on agentgate's events.
"""

import openai
from openai import OpenAI

from interop import agentgate_headers, attempt, describe_error, emit, env

BASE_URL = env("AGENTGATE_BASE_URL")  # http://<agentgate>/v1
KEY = env("AGENTGATE_PROXY_KEY")  # a token of scope `proxy`
SYSTEM = env("AGENTGATE_SYSTEM")
SESSION = env("AGENTGATE_SESSION")
MESSAGES = [{"role": "user", "content": "hello from python"}]

# max_retries=0: the SDK retries 5xx and timeouts by default, which would hide the error cases
# (and double the calls agentgate counts).
client = OpenAI(base_url=BASE_URL, api_key=KEY, max_retries=0, timeout=20)


def non_streaming():
    """`model: "agent:system/agent"` names the agent; raw response for agentgate's headers."""
    raw = client.chat.completions.with_raw_response.create(
        model=f"agent:{SYSTEM}/writer",
        messages=MESSAGES,
        extra_headers={"X-Session-Id": SESSION},
    )
    completion = raw.parse()
    return {
        "status": raw.status_code,
        "headers": agentgate_headers(raw.headers),
        "content": completion.choices[0].message.content,
        "model": completion.model,
        "usage": completion.usage.model_dump(),
    }


def agent_header_client():
    """An agent's own client: X-Agent as a default header, the session per request."""
    writer = OpenAI(
        base_url=BASE_URL,
        api_key=KEY,
        max_retries=0,
        default_headers={"X-Agent": f"{SYSTEM}/writer"},
    )
    raw = writer.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",  # ignored: the version agentgate routes to decides the model
        messages=MESSAGES,
        extra_headers={"X-Session-Id": SESSION},
    )
    return {"headers": agentgate_headers(raw.headers), "content": raw.parse().choices[0].message.content}


def streaming():
    raw = client.chat.completions.with_raw_response.create(
        model=f"agent:{SYSTEM}/writer",
        messages=[{"role": "user", "content": "stream it please"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Session-Id": SESSION},
    )
    text, usage, chunks = "", None, 0
    for chunk in raw.parse():
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage.model_dump()
    return {"headers": agentgate_headers(raw.headers), "text": text, "usage": usage, "chunks": chunks}


def models():
    return sorted(m.id for m in client.models.list())


def call(model, api_key=KEY):
    OpenAI(base_url=BASE_URL, api_key=api_key, max_retries=0, timeout=20).chat.completions.create(
        model=model, messages=MESSAGES, extra_headers={"X-Session-Id": SESSION}
    )


def truncated_stream():
    """The stream starts (200), then breaks: the SDK raises the error event agentgate appends."""
    text = ""
    raw = client.chat.completions.with_raw_response.create(
        model=f"agent:{SYSTEM}/truncated",
        messages=[{"role": "user", "content": "a long answer that will be cut"}],
        stream=True,
        extra_headers={"X-Session-Id": SESSION},
    )
    try:
        for chunk in raw.parse():
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as exc:
        return {
            "error": describe_error(exc),
            "status": raw.status_code,
            "headers": agentgate_headers(raw.headers),
            "text_before_error": text,
        }
    return {"ok": text}


emit(
    {
        "non_streaming": attempt(non_streaming),
        "agent_header_client": attempt(agent_header_client),
        "streaming": attempt(streaming),
        "models": attempt(models),
        "unknown_agent": attempt(lambda: call(f"agent:{SYSTEM}/nobody")),
        "no_agent": attempt(lambda: call("gpt-4o-mini")),
        "bad_key": attempt(lambda: call(f"agent:{SYSTEM}/writer", api_key="sk-not-a-key")),
        "upstream_5xx": attempt(lambda: call(f"agent:{SYSTEM}/broken")),
        "upstream_timeout": attempt(lambda: call(f"agent:{SYSTEM}/slow")),
        "truncated_stream": truncated_stream(),
        "openai_version": openai.__version__,
    }
)
