"""A DSPy multi-agent program behind agentgate, as docs/agent-developers.md tells you to write it.

Three predictors (planner -> writer -> critic), each with its own dspy.LM carrying its own
`X-Agent` header, caching off; every workflow run has its own `X-Session-Id`; after each run the
program's evaluator posts the run's outcome as session feedback. Run by
tests/interop/dspy-multiagent.test.ts, which checks agentgate's events and experiment report.

Environment: AGENTGATE_BASE_URL, AGENTGATE_ADMIN_URL, AGENTGATE_PROXY_KEY, AGENTGATE_FEEDBACK_KEY,
AGENTGATE_SYSTEM, AGENTGATE_RUNS, AGENTGATE_EXPERIMENT ({"salt", "arms": [{"name", "weight"}]}).
"""

import json

import dspy
import httpx

from interop import attempt, emit, env

BASE_URL = env("AGENTGATE_BASE_URL")
ADMIN_URL = env("AGENTGATE_ADMIN_URL")
KEY = env("AGENTGATE_PROXY_KEY")
FEEDBACK_KEY = env("AGENTGATE_FEEDBACK_KEY")
SYSTEM = env("AGENTGATE_SYSTEM")
RUNS = int(env("AGENTGATE_RUNS"))
EXPERIMENT = json.loads(env("AGENTGATE_EXPERIMENT"))
AGENTS = ["planner", "writer", "critic"]


def agent_lm(agent: str, **kwargs) -> dspy.LM:
    # cache=False: a cached answer never reaches agentgate, so it would be neither routed to an
    # arm nor counted. num_retries=0 keeps one HTTP call per predictor call.
    return dspy.LM(
        "openai/gpt-4o-mini",  # agentgate replaces it with the model of the routed version
        api_base=BASE_URL,
        api_key=KEY,
        headers={"X-Agent": f"{SYSTEM}/{agent}"},
        cache=kwargs.pop("cache", False),
        num_retries=0,
        **kwargs,
    )


class Research(dspy.Module):
    def __init__(self):
        super().__init__()
        self.planner = dspy.Predict("question -> plan")
        self.writer = dspy.Predict("question, plan -> answer")
        self.critic = dspy.Predict("question, answer -> verdict")
        for name in AGENTS:
            getattr(self, name).lm = agent_lm(name)

    def call(self, name: str, run_id: str, style: str, **inputs):
        predictor = getattr(self, name)
        if style == "headers":
            # A per-call `headers` REPLACES the LM's headers (it is not merged): repeat X-Agent.
            config = {"headers": {**predictor.lm.kwargs["headers"], "X-Session-Id": run_id}}
        else:
            # LiteLLM merges `extra_headers` into the LM's `headers`: only the session is needed.
            config = {"extra_headers": {"X-Session-Id": run_id}}
        out = predictor(**inputs, config=config)
        # The answer's x-agentgate-* headers, as LiteLLM keeps them on the response.
        seen = predictor.lm.history[-1]["response"]._hidden_params["additional_headers"]
        self.trace.append(
            {
                "agent": name,
                "arm": seen.get("llm_provider-x-agentgate-arm"),
                "version": seen.get("llm_provider-x-agentgate-version"),
                "request_id": seen.get("llm_provider-x-agentgate-request-id"),
            }
        )
        return out

    def forward(self, question: str, run_id: str, style: str):
        self.trace = []
        plan = self.call("planner", run_id, style, question=question).plan
        answer = self.call("writer", run_id, style, question=question, plan=plan).answer
        verdict = self.call("critic", run_id, style, question=question, answer=answer).verdict
        return dspy.Prediction(plan=plan, answer=answer, verdict=verdict, trace=self.trace)


def fnv1a32(s: str) -> int:
    h = 2166136261
    for ch in s:
        h = ((h ^ ord(ch)) * 16777619) % 2**32
    return h


def offline_arm(session_id: str) -> str:
    """The arm agentgate assigns, recomputed from the salt alone (docs/data-plane.md).

    The unit key of a session is "session:" + the X-Session-Id."""
    unit_key = "session:" + session_id
    bucket = fnv1a32(str(fnv1a32(EXPERIMENT["salt"] + unit_key))) % 10000 / 10000
    total = sum(a["weight"] for a in EXPERIMENT["arms"])
    cumulative = 0.0
    for arm in EXPERIMENT["arms"]:
        cumulative += arm["weight"]
        if bucket < cumulative / total:
            return arm["name"]
    return EXPERIMENT["arms"][-1]["name"]


def post_feedback(run_id: str, resolved: bool) -> int:
    res = httpx.post(
        f"{ADMIN_URL}/feedback",
        headers={"Authorization": f"Bearer {FEEDBACK_KEY}"},
        json={"session_id": run_id, "metric": "resolved", "value": resolved},
        timeout=10,
    )
    res.raise_for_status()
    return res.status_code


program = Research()
runs = []
for i in range(RUNS):
    run_id = f"dspy-run-{i:03d}"
    style = "headers" if i % 2 == 0 else "extra_headers"
    pred = program(question=f"question number {i}", run_id=run_id, style=style)
    # The evaluator's verdict on the run: here, whether the writer was the fine-tuned model
    # (the fake upstream names its model in each field), plus some resolved control runs.
    resolved = "ft-model" in pred.answer or i % 4 == 0
    runs.append(
        {
            "run_id": run_id,
            "style": style,
            "offline_arm": offline_arm(run_id),
            "answer": pred.answer,
            "resolved": resolved,
            "feedback_status": post_feedback(run_id, resolved),
            "calls": pred.trace,
        }
    )


def dropped_agent_header():
    """The pitfall: per-call `headers` with only the session drop the LM's X-Agent."""
    program.planner(question="q", config={"headers": {"X-Session-Id": "dspy-pitfall"}})


def cached_twice():
    """With DSPy's cache on, the second identical call never reaches agentgate."""
    critic = dspy.Predict("question, answer -> verdict")
    critic.lm = agent_lm("critic", cache=True, extra_headers={"X-Session-Id": "dspy-cache-demo"})
    return [critic(question="same", answer="same").verdict for _ in range(2)]


emit(
    {
        "dspy_version": dspy.__version__,
        "runs": runs,
        "pitfall": attempt(dropped_agent_header),
        "cached": attempt(cached_twice),
    }
)
