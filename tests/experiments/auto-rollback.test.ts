/**
 * Guardrails and ramps through the gateway, with the fake upstream and the real guardian job
 * (checks every 100 ms; the routing poll is off, so only the NOTIFY can make a replica follow):
 *   (a) a failing challenger (the fake answers 500 for its model; fallbacks rescue the calls but
 *       count as the arm's errors) with an error_rate guardrail is stopped within a few checks;
 *       traffic then goes to the champion, the audit log has the evidence, the counter is 1;
 *   (b) a challenger that scores worse on a declared metric (run feedback) beyond "must not drop
 *       by more than 0.05" is rolled back, and the champion moves to the control's version;
 *   (c) a healthy challenger is not rolled back over more checks than (a) needed;
 *   (d) a ramp 10% → 50% advances after its hold once the guardrails pass, each step audited,
 *       and new units are split by the step's weights;
 *   (e) PostgreSQL: two replicas on one database — exactly one acts, both follow.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUARDIAN_ACTOR } from "../../src/experiments/guardian.js";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";
import { startTestInstance, type TestInstance } from "../helpers/instance.js";
import { metricSum } from "../helpers/metrics.js";

const SYSTEM = "guard";
const INTERVAL_MS = 100;
const ENV = { AGENTGATE_GUARDRAIL_INTERVAL_MS: String(INTERVAL_MS), AGENTGATE_ROUTING_POLL_MS: "600000" };

type Check = {
  status: string;
  results: { metric: string; arm: string; status: string }[];
  ramp: Record<string, unknown> | null;
};
type View = {
  id: number;
  name: string;
  status: string;
  end_reason: string | null;
  ramp: {
    steps: number[];
    step: number | null;
    percent: number | null;
    step_started_at: string | null;
  } | null;
  last_check: Check | null;
  last_check_at: string | null;
};
type Breach = { units: { control: number; treatment: number }; observed: number; interval: [number, number] };
/** The fields these tests read from audit entries' `after` (they differ by action). */
type AuditAfter = {
  breaches: Breach[];
  champions_moved: unknown[];
  step: number;
  percent: number;
};
type Audit = {
  actor: string;
  action: string;
  object_key: string;
  at: string;
  after: AuditAfter;
  reason: string;
};
type Outcome = { status: number; route: string | null; arm: string | null; version: string | null };

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(backends())("guardrails and ramps on %s", (backend) => {
  let g: Gateway;

  const call = async (url: string, agent: string, session: string): Promise<Outcome> => {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: g.auth,
        "content-type": "application/json",
        "x-agent": `${SYSTEM}/${agent}`,
        "x-session-id": session,
      },
      body: JSON.stringify({ model: "any", messages: [{ role: "user", content: "go" }] }),
    });
    await res.text();
    return {
      status: res.status,
      route: res.headers.get("x-agentgate-route"),
      arm: res.headers.get("x-agentgate-arm"),
      version: res.headers.get("x-agentgate-version"),
    };
  };
  /** One call per session, 16 at a time; outcome by session. */
  const callAll = async (agent: string, sessions: string[], url = g.url) => {
    const out = new Map<string, Outcome>();
    for (let i = 0; i < sessions.length; i += 16) {
      const batch = sessions.slice(i, i + 16);
      const res = await Promise.all(batch.map((s) => call(url, agent, s)));
      for (const [j, s] of batch.entries()) out.set(s, res[j] as Outcome);
    }
    for (const o of out.values()) expect(o.status).toBe(200);
    return out;
  };
  const sessions = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const view = (id: number) => g.admin<View>("GET", `/experiments/${id}`);
  const audit = async (action: string, id: number) =>
    (await g.admin<{ data: Audit[] }>("GET", `/audit?action=${action}&object=${id}`)).data;
  const counter = (url: string, experiment: string) =>
    metricSum(url, "agentgate_auto_rollbacks_total", { experiment });
  const create = async (body: Record<string, unknown>) => {
    const exp = await g.admin<View>("POST", "/experiments", { system: SYSTEM, ...body });
    await g.admin("POST", `/experiments/${exp.id}/start`);
    await routingSettled(g);
    return exp;
  };
  const arms = (agent: string, control: number, challenger: number) => [
    { name: "control", weight: 1, versions: { [agent]: control } },
    { name: "ft", weight: 1, versions: { [agent]: challenger } },
  ];
  /** Sweeps completed since `from`. */
  const sweepsSince = (from: number) => g.gw.guardian.sweeps - from;

  // Sweeps (a) needed from sufficient data to the rollback; (c) waits longer than that.
  let sweepsToRollback = 0;

  beforeAll(async () => {
    g = await startGateway(backend, ENV);
    // Version n of each agent serves model n: 1 base-model (champion), 2 ft-model, 3 other-model.
    await seedSystem(g, SYSTEM, ["a1", "a2", "a3", "a4", "a5"], ["base-model", "ft-model", "other-model"]);
    await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
  });
  afterAll(() => g?.close());

  it("(a) stops a failing challenger within a few checks; traffic returns to the champion", async () => {
    const exp = await create({
      name: "failing",
      agent: "a1",
      arms: arms("a1", 1, 3),
      guardrails: [{ metric: "error_rate", max_increase: 0.1, min_units: 20 }],
    });
    g.fake.setFault("other-model", { fault: "500" });
    let ftSessions: string[] = [];
    try {
      const out = await callAll("a1", sessions("a1", 80));
      ftSessions = [...out].filter(([, o]) => o.arm === "ft").map(([s]) => s);
      expect(ftSessions.length).toBeGreaterThanOrEqual(20);
      // The champion rescued every challenger call: the client saw no error.
      for (const s of ftSessions) expect(out.get(s)?.route).toBe("fallback");
      // The guardian may act as soon as 20 units per arm are stored; from the moment all are,
      // it must take at most a few checks.
      await eventsFlushed(g);
      const from = g.gw.guardian.sweeps;
      const stopped = await waitFor("the rollback", async () => {
        const v = await view(exp.id);
        return v.status === "stopped" && v;
      });
      sweepsToRollback = sweepsSince(from);
      expect(sweepsToRollback).toBeLessThanOrEqual(4);
      expect(stopped.end_reason).toMatch(
        /^guardrail breach: error_rate of arm 'ft' is worse than control 'control' beyond the limit \(max increase 0\.1\): treatment − control = \+1, always-valid 95% interval \[\+1, \+1\]/,
      );
      expect(stopped.last_check?.status).toBe("breach");
    } finally {
      g.fake.setFault("other-model", null);
    }

    const [entry, ...more] = await audit("experiment.auto_rollback", exp.id);
    expect(more).toEqual([]);
    expect(entry?.actor).toBe(GUARDIAN_ACTOR.name);
    expect(entry?.after).toMatchObject({
      status: "stopped",
      control: "control",
      champions_moved: [],
      alpha: 0.05,
      comparisons: 1,
      breaches: [
        {
          arm: "ft",
          metric: "error_rate",
          limit: { kind: "max_increase", value: 0.1, relative: false },
          observed: 1,
          interval: [1, 1],
          status: "breach",
        },
      ],
    });
    const units = entry?.after.breaches[0]?.units ?? { control: 0, treatment: 0 };
    expect(units.treatment).toBeGreaterThanOrEqual(20);
    expect(units.control).toBeGreaterThanOrEqual(20);
    expect(units.control + units.treatment).toBeLessThanOrEqual(80);
    expect(await counter(g.url, "failing")).toBe(1);
    expect((await (await fetch(`${g.url}/metrics`)).text()).split("\n")).toContain(
      'agentgate_auto_rollbacks_total{system="guard",agent="a1",experiment="failing"} 1',
    );

    // The NOTIFY made the routing table drop the experiment (the poll is off): champion only,
    // even for the sessions that were in the challenger's arm.
    await waitFor(
      "the routing table to drop the experiment",
      async () => !g.gw.routing.current.agents.get(`${SYSTEM}/a1`)?.experiment,
    );
    const again = await callAll("a1", [...ftSessions, ...sessions("a1-new", 5)]);
    expect(again.size).toBe(ftSessions.length + 5);
    for (const o of again.values()) expect(o).toMatchObject({ route: "champion", arm: null, version: "1" });
    // More checks do not act again.
    const s = g.gw.guardian.sweeps;
    await waitFor("two more sweeps", async () => sweepsSince(s) >= 2);
    expect(await audit("experiment.auto_rollback", exp.id)).toHaveLength(1);
    expect(await counter(g.url, "failing")).toBe(1);
  });

  it("(b) rolls back a worse-scoring challenger and returns the champion to the control's version", async () => {
    // The control arm runs version 2, which is not the champion (version 1).
    const exp = await create({
      name: "worse-scoring",
      agent: "a2",
      arms: arms("a2", 2, 3),
      guardrails: [{ metric: "resolved", max_decrease: 0.05, min_units: 30 }],
    });
    const out = await callAll("a2", sessions("a2", 120));
    await eventsFlushed(g);
    let i = 0;
    for (const [session, o] of out) {
      // Control resolves 9 runs in 10, the challenger 2 in 10.
      const resolved = o.arm === "control" ? i % 10 < 9 : i % 10 < 2;
      i++;
      await g.admin("POST", "/feedback", { session_id: session, metric: "resolved", value: resolved }, 201);
    }
    const stopped = await waitFor("the rollback", async () => {
      const v = await view(exp.id);
      return v.status === "stopped" && v;
    });
    expect(stopped.end_reason).toMatch(
      /^guardrail breach: resolved of arm 'ft' is worse than control 'control' beyond the limit \(max decrease 0\.05\)/,
    );
    const [entry] = await audit("experiment.auto_rollback", exp.id);
    const b = entry?.after.breaches[0] as Breach;
    expect(b).toMatchObject({ arm: "ft", metric: "resolved", limit: { kind: "max_decrease", value: 0.05 } });
    expect(b.observed).toBeLessThan(-0.5);
    expect(b.interval[1]).toBeLessThan(-0.05);
    expect(b.units.control).toBeGreaterThanOrEqual(30);
    // "Traffic returns to control", literally: the champion moved to version 2, audited.
    expect(entry?.after.champions_moved).toEqual([{ agent: "a2", from: 1, to: 2 }]);
    const moves = (await g.admin<{ data: Audit[] }>("GET", `/audit?action=auto_rollback&object=${SYSTEM}/a2`))
      .data;
    expect(moves).toHaveLength(1);
    expect(moves[0]).toMatchObject({ actor: GUARDIAN_ACTOR.name, after: { alias: "champion", version: 2 } });
    await waitFor("the routing table to follow", async () => {
      const a = g.gw.routing.current.agents.get(`${SYSTEM}/a2`);
      return !a?.experiment && a?.champion?.number === 2;
    });
    const after = await callAll("a2", sessions("a2-after", 10));
    for (const o of after.values()) expect(o).toMatchObject({ route: "champion", version: "2" });
    expect(await counter(g.url, "worse-scoring")).toBe(1);
  });

  it("(c) leaves a healthy challenger running, its guardrails judged ok", async () => {
    const exp = await create({
      name: "healthy",
      agent: "a3",
      arms: arms("a3", 1, 2),
      guardrail_alpha: 0.01,
      guardrails: [
        { metric: "error_rate", max_increase: 0.01, min_units: 30 },
        { metric: "resolved", max_decrease: 0.1, min_units: 30 },
        { metric: "latency_p95_ms", max: 5000, min_units: 30 },
      ],
    });
    const out = await callAll("a3", sessions("a3", 120));
    await eventsFlushed(g);
    let i = 0;
    for (const session of out.keys()) {
      // The same 70% in both arms.
      await g.admin(
        "POST",
        "/feedback",
        { session_id: session, metric: "resolved", value: i++ % 10 < 7 },
        201,
      );
    }
    const from = g.gw.guardian.sweeps;
    const wait = Math.max(8, 2 * sweepsToRollback);
    await waitFor(`${wait} sweeps`, async () => sweepsSince(from) >= wait);
    const v = await view(exp.id);
    expect(v.status).toBe("running");
    expect(v.end_reason).toBeNull();
    // Judged, not merely waiting for data: every guardrail had its units and passed.
    expect(v.last_check?.status).toBe("ok");
    expect(v.last_check?.results.map((r) => `${r.metric}:${r.status}`)).toEqual([
      "error_rate:ok",
      "resolved:ok",
      "latency_p95_ms:ok",
    ]);
    expect(await audit("experiment.auto_rollback", exp.id)).toEqual([]);
    expect(await counter(g.url, "healthy")).toBe(0);
    await g.admin("POST", `/experiments/${exp.id}/stop`, { reason: "test over" });
  });

  it("(d) advances a ramp 10% → 50% after its hold while guardrails pass, each step audited", async () => {
    const HOLD_MIN = 0.01; // 0.6 s
    const exp = await create({
      name: "ramped",
      agent: "a4",
      arms: arms("a4", 1, 2),
      ramp: { steps: [10, 50], hold_minutes: HOLD_MIN },
      // "resolved" has no feedback until the test sends it: until then the check is insufficient.
      guardrails: [
        { metric: "error_rate", max_increase: 0.05, min_units: 10 },
        { metric: "resolved", max_decrease: 0.2, min_units: 10 },
      ],
    });
    const v0 = await view(exp.id);
    expect(v0.ramp).toMatchObject({ steps: [10, 50], step: 0, percent: 10 });
    const weights = () =>
      g.gw.routing.current.agents.get(`${SYSTEM}/a4`)?.experiment?.def.arms.map((a) => a.weight);
    expect(weights()?.[0]).toBeCloseTo(0.9, 12);
    expect(weights()?.[1]).toBeCloseTo(0.1, 12);

    const first = await callAll("a4", sessions("a4-s0", 300));
    const ft0 = [...first].filter(([, o]) => o.arm === "ft").map(([s]) => s);
    // 10% of 300: 30 expected, binomial sd ≈ 5.2. The bounds (≥ 10 is also what the guardrails'
    // min_units need) fail a correct gateway once in ~13,000 runs (exact binomial tails); the old
    // 15..48 failed once in ~1,000 and did, in CI (13 of 300).
    expect(ft0.length).toBeGreaterThanOrEqual(11);
    expect(ft0.length).toBeLessThanOrEqual(52);
    await eventsFlushed(g);

    // The hold is over, but without feedback the guardrails are insufficient: the ramp holds.
    await waitFor(
      "the hold to pass",
      async () => Date.now() - Date.parse(v0.ramp?.step_started_at as string) > HOLD_MIN * 60_000 + 200,
    );
    const s0 = g.gw.guardian.sweeps;
    await waitFor("two more sweeps", async () => sweepsSince(s0) >= 2);
    const holding = await view(exp.id);
    expect(holding.ramp?.step).toBe(0);
    expect(holding.last_check).toMatchObject({
      status: "insufficient",
      ramp: { step: 0, percent: 10, held_because: "guardrails insufficient" },
    });
    const control0 = [...first].filter(([, o]) => o.arm === "control").map(([s]) => s);
    for (const [i, session] of [...ft0, ...control0.slice(0, 30)].entries())
      await g.admin(
        "POST",
        "/feedback",
        { session_id: session, metric: "resolved", value: i % 2 === 0 },
        201,
      );

    const v1 = await waitFor("step 1", async () => {
      const v = await view(exp.id);
      return v.ramp?.step === 1 && v;
    });
    expect(v1.status).toBe("running");
    expect(v1.ramp?.percent).toBe(50);
    const held =
      Date.parse(v1.ramp?.step_started_at as string) - Date.parse(v0.ramp?.step_started_at as string);
    expect(held).toBeGreaterThanOrEqual(HOLD_MIN * 60_000);
    const steps = (await audit("experiment.ramp", exp.id)).reverse();
    expect(steps.map((s) => [s.after.step, s.after.percent])).toEqual([
      [0, 10],
      [1, 50],
    ]);
    expect(steps[1]).toMatchObject({ actor: GUARDIAN_ACTOR.name, after: { check: { status: "ok" } } });
    expect(steps[1]?.reason).toMatch(/guardrails held for 0\.01 min at 10%/);

    await waitFor("the routing table at 50%", async () => weights()?.[1] === 0.5);
    const second = await callAll("a4", sessions("a4-s1", 300));
    const ft1 = [...second.values()].filter((o) => o.arm === "ft").length;
    // 50% of 300: 150 expected, sd ≈ 8.7 (bounds at ±4 sd: a false failure once in ~25,000 runs).
    expect(ft1).toBeGreaterThanOrEqual(115);
    expect(ft1).toBeLessThanOrEqual(185);
    // A unit in the treatment stays there when the share grows.
    const back = await callAll("a4", ft0);
    for (const o of back.values()) expect(o.arm).toBe("ft");
    await eventsFlushed(g);

    // The SRM check counts only the units first seen since the step began, against 50/50.
    const report = await g.admin<{ srm: { counts: number[]; weights: number[]; since: string } }>(
      "GET",
      `/experiments/${exp.id}/report`,
    );
    expect(report.srm.since).toBe(v1.ramp?.step_started_at);
    expect(report.srm.weights).toEqual([0.5, 0.5]);
    expect(report.srm.counts.reduce((a, b) => a + b, 0)).toBe(300);
    expect(report.srm.counts[1]).toBe(ft1);

    // The last step holds: no third step, and the check says why.
    const s = g.gw.guardian.sweeps;
    await waitFor("three more sweeps", async () => sweepsSince(s) >= 3);
    const v2 = await view(exp.id);
    expect(v2.ramp?.step).toBe(1);
    expect(v2.last_check?.ramp).toMatchObject({ step: 1, percent: 50, held_because: "last step" });
    expect(await audit("experiment.ramp", exp.id)).toHaveLength(2);
    await g.admin("POST", `/experiments/${exp.id}/stop`, { reason: "test over" });
  });

  if (backend === "postgres") {
    it("(e) two replicas on one database: exactly one rolls back, both route to the champion", async () => {
      const db = g.databaseUrl as string;
      const second: TestInstance = await startTestInstance(backend, ENV, {
        database: { url: db, drop: async () => {} },
      });
      try {
        const exp = await create({
          name: "two-replicas",
          agent: "a5",
          arms: arms("a5", 1, 3),
          guardrails: [{ metric: "error_rate", max_increase: 0.1, min_units: 20 }],
        });
        await second.gw.routing.reload();
        g.fake.setFault("other-model", { fault: "500" });
        try {
          const half = sessions("a5", 80);
          await callAll("a5", half.slice(0, 40));
          await callAll("a5", half.slice(40), second.url);
          await Promise.all([eventsFlushed(g), second.gw.recorder.flush()]);
          await waitFor("the rollback", async () => (await view(exp.id)).status === "stopped");
        } finally {
          g.fake.setFault("other-model", null);
        }
        // Both replicas keep checking; only one acted.
        const [s1, s2] = [g.gw.guardian.sweeps, second.gw.guardian.sweeps];
        await waitFor(
          "more sweeps on both",
          async () => g.gw.guardian.sweeps >= s1 + 3 && second.gw.guardian.sweeps >= s2 + 3,
        );
        expect((await counter(g.url, "two-replicas")) + (await counter(second.url, "two-replicas"))).toBe(1);
        expect(await audit("experiment.auto_rollback", exp.id)).toHaveLength(1);
        for (const t of [g.gw, second.gw])
          await waitFor(
            "each replica to follow",
            async () => !t.routing.current.agents.get(`${SYSTEM}/a5`)?.experiment,
          );
        for (const url of [g.url, second.url]) {
          const out = await callAll("a5", sessions("a5-after", 10), url);
          for (const o of out.values()) expect(o).toMatchObject({ route: "champion", version: "1" });
        }
      } finally {
        await second.close();
      }
    });
  }
});
