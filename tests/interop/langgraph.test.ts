/**
 * LangChain/LangGraph through the base URL alone (tests/interop/py/langgraph_agents.py): a graph of
 * two nodes, each a ChatOpenAI with `base_url` at agentgate and its own `X-Agent` default header,
 * the run id carried in the graph's config and sent as `X-Session-Id` on every call. A running
 * system-scoped experiment covers both agents; every run's calls must land in one arm.
 * PGlite only: the DSPy suite checks the same sticky assignment on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsFlushed, routingSettled, seedSystem } from "../helpers/dataplane.js";
import { type InteropGateway, startInteropGateway } from "./gateway.js";
import { runPython } from "./python.js";

const SYSTEM = "graph";
const RUNS = 12;
const MODEL_OF_ARM: Record<string, string> = { control: "base-model", finetuned: "ft-model" };

type Seen = {
  agent: string;
  "x-agentgate-arm"?: string;
  "x-agentgate-version"?: string;
  "x-agentgate-request-id"?: string;
};
type Result = { runs: { run_id: string; answer: string; calls: Seen[] }[] };
type Event = {
  request_id: string;
  agent: string;
  session_id: string;
  arm: string | null;
  served_model: string;
};

describe("a LangGraph graph of ChatOpenAI agents through agentgate on pglite", () => {
  let g: InteropGateway;
  let r: Result;
  let events: Event[];

  beforeAll(async () => {
    g = await startInteropGateway("pglite");
    await seedSystem(g, SYSTEM, ["planner", "writer"], ["base-model", "ft-model"], "sequential");
    const { id } = await g.admin<{ id: number }>("POST", "/experiments", {
      name: "graph-ft",
      system: SYSTEM,
      arms: [
        { name: "control", weight: 50, versions: { planner: 1, writer: 1 } },
        { name: "finetuned", weight: 50, versions: { planner: 2, writer: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${id}/start`);
    await routingSettled(g);
    ({ result: r } = await runPython<Result>("langgraph_agents.py", {
      env: { ...g.pyEnv, AGENTGATE_SYSTEM: SYSTEM, AGENTGATE_RUNS: String(RUNS) },
    }));
    await eventsFlushed(g);
    events = await g.gw.dbHandle
      .db("inference_events")
      .where({ system: SYSTEM })
      .select("request_id", "agent", "session_id", "arm", "served_model");
  });
  afterAll(() => g?.close());

  it("each node's default X-Agent header named its agent, and the run id reached agentgate as the session", () => {
    expect(r.runs).toHaveLength(RUNS);
    expect(events).toHaveLength(RUNS * 2);
    for (const run of r.runs) {
      const mine = events.filter((e) => e.session_id === run.run_id);
      expect(mine.map((e) => e.agent).sort(), run.run_id).toEqual(["planner", "writer"]);
      expect(mine.map((e) => e.request_id).sort()).toEqual(
        run.calls.map((c) => c["x-agentgate-request-id"]).sort(),
      );
    }
  });

  it("every run stayed in one arm on both agents, read from response_metadata headers", () => {
    for (const run of r.runs) {
      expect(run.calls.map((c) => c.agent)).toEqual(["planner", "writer"]);
      const arm = run.calls[0]?.["x-agentgate-arm"] as string;
      expect(Object.keys(MODEL_OF_ARM)).toContain(arm);
      expect(
        run.calls.map((c) => c["x-agentgate-arm"]),
        run.run_id,
      ).toEqual([arm, arm]);
      const model = MODEL_OF_ARM[arm];
      const question = `question ${Number(run.run_id.slice(-3))}`;
      // Both nodes were served by the arm's model: the writer echoes the planner's echo.
      expect(run.answer).toBe(`Echo from ${model}: write: Echo from ${model}: plan: ${question}`);
      for (const e of events.filter((x) => x.session_id === run.run_id)) {
        expect(e).toMatchObject({ arm, served_model: model });
      }
    }
  });
});
