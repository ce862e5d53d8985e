"""A LangGraph graph of two LangChain agents behind agentgate, through the base URL alone.

Each node has its own ChatOpenAI with `base_url` at agentgate and its `X-Agent` as a default
header; the workflow run id travels in the graph's config and every node sends it as
`X-Session-Id` per call. `include_response_headers=True` exposes agentgate's headers in the
message's response_metadata. Run by tests/interop/langgraph.test.ts.
"""

from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

from interop import agentgate_headers, emit, env

BASE_URL = env("AGENTGATE_BASE_URL")
KEY = env("AGENTGATE_PROXY_KEY")
SYSTEM = env("AGENTGATE_SYSTEM")
RUNS = int(env("AGENTGATE_RUNS"))


def agent_llm(agent: str) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini",  # agentgate replaces it with the model of the routed version
        base_url=BASE_URL,
        api_key=KEY,
        default_headers={"X-Agent": f"{SYSTEM}/{agent}"},
        include_response_headers=True,
        max_retries=0,
    )


class State(TypedDict):
    question: str
    plan: str
    answer: str
    calls: list


planner_llm = agent_llm("planner")
writer_llm = agent_llm("writer")


def session(config: RunnableConfig) -> dict:
    return {"X-Session-Id": config["configurable"]["run_id"]}


def seen(agent: str, message) -> dict:
    return {"agent": agent, **agentgate_headers(message.response_metadata["headers"])}


def planner(state: State, config: RunnableConfig) -> dict:
    msg = planner_llm.invoke(f"plan: {state['question']}", extra_headers=session(config))
    return {"plan": msg.content, "calls": state["calls"] + [seen("planner", msg)]}


def writer(state: State, config: RunnableConfig) -> dict:
    msg = writer_llm.invoke(f"write: {state['plan']}", extra_headers=session(config))
    return {"answer": msg.content, "calls": state["calls"] + [seen("writer", msg)]}


graph = StateGraph(State)
graph.add_node("planner", planner)
graph.add_node("writer", writer)
graph.add_edge(START, "planner")
graph.add_edge("planner", "writer")
graph.add_edge("writer", END)
app = graph.compile()

runs = []
for i in range(RUNS):
    run_id = f"graph-run-{i:03d}"
    out = app.invoke(
        {"question": f"question {i}", "plan": "", "answer": "", "calls": []},
        config={"configurable": {"run_id": run_id}},
    )
    runs.append({"run_id": run_id, "answer": out["answer"], "calls": out["calls"]})

emit({"runs": runs})
