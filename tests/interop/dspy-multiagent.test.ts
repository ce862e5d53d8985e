/**
 * A DSPy multi-agent program (PyPI `dspy`, tests/interop/py/dspy_multiagent.py) running through
 * agentgate against the fake upstream, which answers in DSPy's ChatAdapter format. A running
 * system-scoped experiment covers its three agents; every workflow run sends its own
 * `X-Session-Id`. Checked here: each run's calls all landed in one arm, on every agent, with the
 * versions of that arm; the arm is the one the documented hash gives (recomputed in Python); the
 * split follows the weights; every call has its event; the session feedback the program posted
 * is attributed to the run's arm in the experiment report; DSPy's pitfalls are real (a per-call
 * `headers` drops the LM's X-Agent; a cached call never reaches agentgate).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/experiments/report/report.js";
import { dspyChatAdapterReply } from "../fakes/dspy-chat-adapter.js";
import { backends } from "../helpers/databases.js";
import { eventsFlushed, routingSettled, seedSystem } from "../helpers/dataplane.js";
import { type InteropGateway, startInteropGateway } from "./gateway.js";
import { runPython } from "./python.js";

const SYSTEM = "research";
const AGENTS = ["planner", "writer", "critic"];
const RUNS = 40;
/** Versions per arm: v1 = base model + optimized prompt, v2 = the fine-tune (model ft-model). */
const ARMS = [
  { name: "control", weight: 50, versions: { planner: 1, writer: 1, critic: 1 } },
  { name: "hybrid", weight: 50, versions: { planner: 1, writer: 2, critic: 2 } },
];

type TraceCall = { agent: string; arm: string | null; version: string | null; request_id: string | null };
type Run = {
  run_id: string;
  style: "headers" | "extra_headers";
  offline_arm: string;
  answer: string;
  resolved: boolean;
  feedback_status: number;
  calls: TraceCall[];
};
type PyError = { class: string; message: string; bases: string[] };
type Result = {
  dspy_version: string;
  runs: Run[];
  pitfall: { ok?: unknown; error?: PyError };
  cached: { ok?: string[]; error?: PyError };
};
type Event = {
  request_id: string;
  agent: string;
  session_id: string | null;
  arm: string | null;
  experiment_id: number | null;
  served_version: number | null;
  served_model: string | null;
  status: number;
};

describe.each(backends())("a DSPy multi-agent program through agentgate on %s", (backend) => {
  let g: InteropGateway;
  let r: Result;
  let experimentId: number;
  let events: Event[];

  beforeAll(async () => {
    g = await startInteropGateway(backend, { reply: (req, model) => dspyChatAdapterReply(req, model) });
    await seedSystem(g, SYSTEM, AGENTS, ["base-model", "ft-model"], "sequential");
    await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
    const exp = await g.admin<{ id: number }>("POST", "/experiments", {
      name: "dspy-hybrid",
      system: SYSTEM,
      primary_metric: "resolved",
      arms: ARMS,
    });
    experimentId = exp.id;
    await g.admin("POST", `/experiments/${experimentId}/start`);
    const { salt } = await g.admin<{ salt: string }>("GET", `/experiments/${experimentId}`);
    await routingSettled(g);
    ({ result: r } = await runPython<Result>("dspy_multiagent.py", {
      env: {
        ...g.pyEnv,
        AGENTGATE_SYSTEM: SYSTEM,
        AGENTGATE_RUNS: String(RUNS),
        AGENTGATE_EXPERIMENT: JSON.stringify({
          salt,
          arms: ARMS.map(({ name, weight }) => ({ name, weight })),
        }),
      },
    }));
    await eventsFlushed(g);
    events = await g.gw.dbHandle
      .db("inference_events")
      .where({ system: SYSTEM })
      .select(
        "request_id",
        "agent",
        "session_id",
        "arm",
        "experiment_id",
        "served_version",
        "served_model",
        "status",
      );
  });
  afterAll(() => g?.close());

  const runEvents = () => events.filter((e) => e.session_id?.startsWith("dspy-run-"));
  const versionOf = (arm: string, agent: string) =>
    (ARMS.find((a) => a.name === arm)?.versions as Record<string, number> | undefined)?.[agent];

  it("ran DSPy 3 with both ways of sending the session", () => {
    expect(r.dspy_version).toMatch(/^3\./);
    expect(r.runs).toHaveLength(RUNS);
    expect(new Set(r.runs.map((x) => x.style))).toEqual(new Set(["headers", "extra_headers"]));
  });

  it("every call of a run landed in one arm, on every agent, with that arm's versions", () => {
    for (const run of r.runs) {
      const arm = run.calls[0]?.arm as string;
      expect(
        ARMS.map((a) => a.name),
        run.run_id,
      ).toContain(arm);
      // What DSPy saw in the response headers...
      expect(
        run.calls.map((c) => [c.agent, c.arm, Number(c.version)]),
        run.run_id,
      ).toEqual(AGENTS.map((agent) => [agent, arm, versionOf(arm, agent)]));
      // ...is what agentgate recorded: one event per call, all in the run's arm.
      const mine = runEvents().filter((e) => e.session_id === run.run_id);
      expect(mine.map((e) => e.request_id).sort(), run.run_id).toEqual(
        run.calls.map((c) => c.request_id).sort(),
      );
      for (const e of mine) {
        expect(e, `${run.run_id} ${e.agent}`).toMatchObject({
          experiment_id: experimentId,
          arm,
          served_version: versionOf(arm, e.agent),
          status: 200,
        });
      }
      // And the program's final answer came from that arm's writer model.
      expect(run.answer, run.run_id).toBe(`answer by ${arm === "hybrid" ? "ft-model" : "base-model"}`);
    }
  });

  it("the arm is the one the documented hash gives, recomputed offline in Python from the salt", () => {
    for (const run of r.runs) expect(run.calls[0]?.arm, run.run_id).toBe(run.offline_arm);
  });

  it("the runs are shared between the arms by weight", () => {
    const hybrid = r.runs.filter((x) => x.offline_arm === "hybrid").length;
    // 40 fair coin flips: outside [8, 32] has probability < 1e-4.
    expect(hybrid).toBeGreaterThanOrEqual(8);
    expect(hybrid).toBeLessThanOrEqual(RUNS - 8);
  });

  it("one event per call: nothing cached, retried or duplicated", () => {
    expect(runEvents()).toHaveLength(RUNS * AGENTS.length);
    expect(new Set(runEvents().map((e) => e.request_id)).size).toBe(RUNS * AGENTS.length);
    const dspyCalls = g.fake.requests.filter((q) => q.path === "/v1/chat/completions");
    // The cache demo reaches the upstream once; the pitfall calls never do.
    expect(dspyCalls).toHaveLength(RUNS * AGENTS.length + 1);
  });

  it("session feedback posted from Python is attributed to each run's arm in the report", async () => {
    for (const run of r.runs) expect(run.feedback_status).toBe(201);
    const report = await g.admin<Report>("GET", `/experiments/${experimentId}/report`);
    const resolved = report.metrics.find((m) => m.name === "resolved");
    expect(resolved, "resolved in the report").toBeDefined();
    for (const { name } of ARMS) {
      const mine = r.runs.filter((x) => x.offline_arm === name);
      const value = resolved?.arms.find((a) => a.arm === name);
      expect(value?.n, name).toBe(mine.length);
      expect(value?.estimate, name).toBeCloseTo(mine.filter((x) => x.resolved).length / mine.length, 12);
      const summary = report.arms.find((a) => a.name === name);
      // Units and calls also count the cache demo's session when it fell in this arm.
      const demo = events.filter((e) => e.session_id === "dspy-cache-demo" && e.arm === name).length;
      expect(summary?.units, name).toBe(mine.length + demo);
      expect(summary?.calls, name).toBe(mine.length * AGENTS.length + demo);
    }
  });

  it("pitfall: a per-call `headers` with only the session replaces the LM's X-Agent → 400", () => {
    expect(r.pitfall.ok).toBeUndefined();
    expect(r.pitfall.error?.message).toContain("name the agent");
    expect(events.some((e) => e.session_id === "dspy-pitfall")).toBe(false);
  });

  it("why the cache must be off: two identical calls, one reached agentgate", () => {
    const demo = events.filter((e) => e.session_id === "dspy-cache-demo");
    expect(demo).toHaveLength(1);
    const answer = `verdict by ${demo[0]?.served_model}`;
    expect(r.cached.ok).toEqual([answer, answer]);
  });
});
