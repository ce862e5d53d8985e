/**
 * The experiment report against real traffic: workflow runs sent through the gateway with the
 * openai SDK, arms made to differ (the fine-tuned model is slower and cheaper, and its runs are
 * resolved more often), then every number the report gives is held against an account kept
 * independently by the test — calls and units counted from the response headers, estimates
 * recomputed from the stored events and the feedback sent, p-values and Holm adjustment
 * recomputed from first principles.
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/experiments/report/report.js";
import { backends } from "../helpers/databases.js";
import { eventsFlushed, type Gateway, routingSettled, startGateway } from "../helpers/dataplane.js";
import { type Call, chat, fixSalt, inPool, insertSkew, tally } from "../helpers/experiment-traffic.js";

type Event = {
  arm: string;
  agent: string;
  unit_key: string;
  status: number;
  fallback: boolean;
  cost_usd: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  latency_ms: number;
  at: Date;
};
type Metric = Report["metrics"][number];

const BASE_PRICE = { input_per_mtok: 2, output_per_mtok: 8 };
const FT_PRICE = { input_per_mtok: 0.5, output_per_mtok: 1 };
const FT_LATENCY_MS = 40;

/** |a − b| within a relative 1e-9 (SQL and JS sum floats in different orders). */
function close(actual: number | null | undefined, expected: number, what: string): void {
  expect(actual, what).not.toBeNull();
  const a = actual as number;
  expect(Math.abs(a - expected), `${what}: ${a} vs ${expected}`).toBeLessThanOrEqual(
    1e-9 * Math.max(Math.abs(a), Math.abs(expected), 1e-12),
  );
}

/** PostgreSQL's percentile_cont: linear interpolation between the ranks around p·(n − 1). */
function percentileCont(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const h = p * (s.length - 1);
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (h - lo);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const metric = (r: Report, name: string) => {
  const m = r.metrics.find((x) => x.name === name);
  expect(m, `metric ${name} in ${r.metrics.map((x) => x.name).join(", ")}`).toBeDefined();
  return m as Metric;
};
const armValue = (m: Metric, arm: string) => m.arms.find((a) => a.arm === arm);

/** Per arm, what the stored events say: calls, errors, cost over priced calls, tokens, latencies. */
function fromEvents(events: Event[], arm: string) {
  const mine = events.filter((e) => e.arm === arm);
  const priced = mine.filter((e) => e.cost_usd !== null);
  const units = new Map<string, Event[]>();
  for (const e of mine) units.set(e.unit_key, [...(units.get(e.unit_key) ?? []), e]);
  return {
    calls: mine.length,
    units,
    errors: mine.filter((e) => e.status >= 500 || e.status === 429 || e.fallback).length,
    cost: sum(priced.map((e) => e.cost_usd as number)),
    priced: priced.length,
    tokens: sum(mine.map((e) => (e.prompt_tokens ?? 0) + (e.completion_tokens ?? 0))),
    latencies: mine.map((e) => e.latency_ms),
  };
}

/** Delta-method 95% interval of ΣM/ΣD over units, written out independently of src/. */
function ratioInterval(units: { m: number; d: number }[]): [number, number] {
  const n = units.length;
  const mm = sum(units.map((u) => u.m)) / n;
  const md = sum(units.map((u) => u.d)) / n;
  const r = mm / md;
  const resid = units.map((u) => u.m - r * u.d);
  const mr = sum(resid) / n;
  const variance = sum(resid.map((x) => (x - mr) ** 2)) / (n - 1) / (n * md * md);
  const half = 1.959963984540054 * Math.sqrt(variance);
  return [r - half, r + half];
}

async function storedEvents(g: Gateway, experimentId: number): Promise<Event[]> {
  await eventsFlushed(g);
  const rows = await g.gw.dbHandle
    .db("inference_events")
    .where({ experiment_id: experimentId })
    .select(
      "arm",
      "agent",
      "unit_key",
      "status",
      "fallback",
      "cost_usd",
      "prompt_tokens",
      "completion_tokens",
      "latency_ms",
      "at",
    );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

describe.each(backends())("experiment report on %s", (backend) => {
  let g: Gateway;
  const report = (id: number, query = "") => g.admin<Report>("GET", `/experiments/${id}/report${query}`);

  beforeAll(async () => {
    g = await startGateway(backend);
    // The fine-tuned model answers FT_LATENCY_MS later than the base model.
    g.fake.setFault("ft-model", { fault: "slow", delayMs: FT_LATENCY_MS });
    await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
    await g.admin("POST", "/metrics", { name: "quality", type: "float", direction: "higher" });
  });
  afterAll(() => g?.close());

  describe("agent-scoped: base+optimized vs fine-tuned coordinator", () => {
    const calls: Call[] = [];
    /** session → resolved (1/0) and quality score, as sent */
    const resolved = new Map<string, { arm: string; value: number }>();
    const quality = new Map<string, { arm: string; value: number }>();
    let id: number;
    let early: Report;
    let full: Report;
    let events: Event[];
    const TRAINING_USD = 0.0004;
    const EVALUATION_USD = 0.0002;

    /** `n` new workflow runs of two coordinator calls each, then their feedback. */
    async function stage(prefix: string, n: number): Promise<void> {
      const sessions = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
      await inPool(sessions, 8, async (s) => {
        const words = "plan the next step of this support case".split(" ");
        for (let k = 0; k < 2; k++) {
          const i = Number(s.split("-")[1]);
          calls.push(await chat(g, "support", "coordinator", s, words.slice(0, 1 + ((i + k) % 7)).join(" ")));
        }
      });
      await eventsFlushed(g);
      // Control resolves exactly 1 run in 4 (runs past a multiple of 4 get no verdict), the
      // fine-tune 9 in 10; quality scores differ a little, with spread.
      const armOf = (s: string) => calls.find((c) => c.session === s)?.arm as string;
      const control = sessions.filter((s) => armOf(s) === "control");
      const treated = sessions.filter((s) => armOf(s) === "finetuned");
      const sent: [string, string, number][] = [];
      control.slice(0, control.length - (control.length % 4)).forEach((s, i) => {
        sent.push([s, "resolved", i % 4 === 0 ? 1 : 0]);
      });
      treated.forEach((s, i) => {
        sent.push([s, "resolved", i % 10 === 9 ? 0 : 1]);
      });
      control.forEach((s, i) => {
        sent.push([s, "quality", 0.6 + ((i % 5) - 2) * 0.05]);
      });
      treated.forEach((s, i) => {
        sent.push([s, "quality", 0.64 + ((i % 5) - 2) * 0.05]);
      });
      for (const [session, name, value] of sent) {
        await g.admin("POST", "/feedback", {
          session_id: session,
          metric: name,
          value: name === "resolved" ? value === 1 : value,
        });
        (name === "resolved" ? resolved : quality).set(session, { arm: armOf(session), value });
      }
    }

    beforeAll(async () => {
      await g.admin("POST", "/systems", { name: "support", topology: "hierarchical" });
      await g.admin("POST", "/systems/support/agents", { name: "coordinator" });
      await g.admin("POST", "/systems/support/agents/coordinator/versions", {
        kind: "base_optimized",
        upstream: "fake",
        model: "base-model",
        pricing: BASE_PRICE,
      });
      await g.admin("POST", "/systems/support/agents/coordinator/versions", {
        kind: "fine_tuned",
        upstream: "fake",
        model: "ft-model",
        pricing: FT_PRICE,
        training_cost_usd: TRAINING_USD,
      });
      const exp = await g.admin<{ id: number }>("POST", "/experiments", {
        name: "coord-ft",
        system: "support",
        agent: "coordinator",
        arms: [
          { name: "control", weight: 1, versions: { coordinator: 1 } },
          { name: "finetuned", weight: 1, versions: { coordinator: 2 } },
        ],
        primary_metric: "resolved",
        secondary_metrics: ["quality"],
      });
      id = exp.id;
      await fixSalt(g, id, "report-test-agent-scoped");
      await g.admin("POST", `/experiments/${id}/start`);
      await routingSettled(g);

      await stage("early", 50);
      early = await report(id);

      // Errors: two fine-tuned calls fail and fall back to the champion (still the arm's errors),
      // one control call fails outright (502).
      const treatedRun = calls.find((c) => c.arm === "finetuned")?.session as string;
      const controlRun = calls.find((c) => c.arm === "control")?.session as string;
      g.fake.setFault("ft-model", { fault: "500", times: 2 });
      for (let k = 0; k < 2; k++) calls.push(await chat(g, "support", "coordinator", treatedRun, "retry"));
      g.fake.setFault("ft-model", { fault: "slow", delayMs: FT_LATENCY_MS });
      g.fake.setFault("base-model", { fault: "500", times: 1 });
      calls.push(await chat(g, "support", "coordinator", controlRun, "fail"));
      g.fake.setFault("base-model", null);

      await stage("late", 50);
      full = await report(id, `?evaluation_cost_usd=${EVALUATION_USD}`);
      events = await storedEvents(g, id);
    });

    it("counts per arm the units and calls the gateway's headers reported", () => {
      const t = tally(calls);
      expect([...t.keys()].sort()).toEqual(["control", "finetuned"]);
      expect(full.arms.map((a) => a.name)).toEqual(["control", "finetuned"]);
      for (const a of full.arms) {
        expect(a.units, a.name).toBe(t.get(a.name)?.units.size);
        expect(a.calls, a.name).toBe(t.get(a.name)?.calls);
        expect(a.weight).toBe(0.5);
      }
      expect(sum(full.arms.map((a) => a.calls))).toBe(calls.length);
      // The induced failures, as the client saw them.
      expect(calls.filter((c) => c.route === "fallback").map((c) => [c.arm, c.status])).toEqual([
        ["finetuned", 200],
        ["finetuned", 200],
      ]);
      expect(calls.filter((c) => c.status >= 500).map((c) => [c.arm, c.status])).toEqual([["control", 502]]);
    });

    it("estimates error rate, cost and tokens per call as the stored events give them", () => {
      expect(events).toHaveLength(calls.length);
      for (const arm of ["control", "finetuned"]) {
        const e = fromEvents(events, arm);
        close(armValue(metric(full, "error_rate"), arm)?.estimate, e.errors / e.calls, `${arm} error rate`);
        close(armValue(metric(full, "cost_usd_per_call"), arm)?.estimate, e.cost / e.priced, `${arm} cost`);
        close(armValue(metric(full, "tokens_per_call"), arm)?.estimate, e.tokens / e.calls, `${arm} tokens`);
        // The cost interval: delta method over workflow runs, not calls.
        const ci = armValue(metric(full, "cost_usd_per_call"), arm)?.ci as [number, number];
        const units = [...e.units.values()].map((u) => ({
          m: sum(u.map((x) => x.cost_usd ?? 0)),
          d: u.filter((x) => x.cost_usd !== null).length,
        }));
        const [lo, hi] = ratioInterval(units);
        close(ci[0], lo, `${arm} cost CI low`);
        close(ci[1], hi, `${arm} cost CI high`);
      }
      expect(armValue(metric(full, "error_rate"), "control")?.estimate).toBeGreaterThan(0);
      expect(armValue(metric(full, "error_rate"), "finetuned")?.estimate).toBeGreaterThan(0);
      // The fine-tune is priced lower, and the report says so with an always-valid verdict.
      const cost = metric(full, "cost_usd_per_call").comparisons[0];
      expect(cost?.diff).toBeLessThan(0);
      expect(cost?.verdict).toBe("better");
    });

    it("gives p50/p95 latency per arm as percentile_cont over the events, and sees the slower fine-tune", () => {
      for (const a of full.arms) {
        const e = fromEvents(events, a.name);
        close(a.latency_p50_ms, percentileCont(e.latencies, 0.5), `${a.name} p50`);
        close(a.latency_p95_ms, percentileCont(e.latencies, 0.95), `${a.name} p95`);
        expect(a.latency_p95_ms as number).toBeGreaterThanOrEqual(a.latency_p50_ms as number);
      }
      const [c, t] = full.arms;
      expect(t?.latency_p50_ms as number).toBeGreaterThanOrEqual(FT_LATENCY_MS);
      expect(t?.latency_p50_ms as number).toBeGreaterThan((c?.latency_p50_ms as number) + FT_LATENCY_MS / 2);
      expect(metric(full, "latency_geomean_ms").comparisons[0]?.verdict).toBe("worse");
    });

    it("does not flag a fair split", () => {
      expect(full.srm).not.toBeNull();
      expect(full.srm?.counts).toEqual(full.arms.map((a) => a.units));
      expect(full.srm?.weights).toEqual([0.5, 0.5]);
      expect(full.srm?.p as number).toBeGreaterThan(0.001);
      expect(full.srm?.flagged).toBe(false);
    });

    it("decides the primary metric: a two-proportion test, Holm-adjusted with the secondary", () => {
      const r = metric(full, "resolved");
      expect(r.kind).toBe("proportion");
      expect(r.per).toBe("unit");
      const counts = (arm: string) => {
        const vs = [...resolved.values()].filter((v) => v.arm === arm).map((v) => v.value);
        return { successes: sum(vs), n: vs.length };
      };
      const c = counts("control");
      const t = counts("finetuned");
      expect(c.successes * 4).toBe(c.n);
      for (const [arm, k] of [
        ["control", c],
        ["finetuned", t],
      ] as const) {
        expect(armValue(r, arm)?.n).toBe(k.n);
        close(armValue(r, arm)?.estimate, k.successes / k.n, `${arm} resolved rate`);
      }
      // Pooled two-proportion z-test, written out.
      const pc = c.successes / c.n;
      const pt = t.successes / t.n;
      const pooled = (c.successes + t.successes) / (c.n + t.n);
      const z = (pt - pc) / Math.sqrt(pooled * (1 - pooled) * (1 / c.n + 1 / t.n));
      const pResolved = 2 * normalCdf(-Math.abs(z), 0, 1);
      const cmp = r.comparisons[0];
      expect(cmp?.arm).toBe("finetuned");
      close(cmp?.diff, pt - pc, "diff");
      close(cmp?.p, pResolved, "p");
      expect(cmp?.p as number).toBeLessThan(0.001);
      expect(cmp?.verdict).toBe("better");

      // Welch's t on the run-level quality scores, written out.
      const q = metric(full, "quality");
      expect(q.kind).toBe("mean");
      const scores = (arm: string) => [...quality.values()].filter((v) => v.arm === arm).map((v) => v.value);
      const moments = (xs: number[]) => {
        const m = sum(xs) / xs.length;
        return { n: xs.length, m, v: sum(xs.map((x) => (x - m) ** 2)) / (xs.length - 1) };
      };
      const qc = moments(scores("control"));
      const qt = moments(scores("finetuned"));
      close(armValue(q, "control")?.estimate, qc.m, "control quality");
      close(armValue(q, "finetuned")?.estimate, qt.m, "finetuned quality");
      const se2 = qc.v / qc.n + qt.v / qt.n;
      const df = se2 ** 2 / ((qc.v / qc.n) ** 2 / (qc.n - 1) + (qt.v / qt.n) ** 2 / (qt.n - 1));
      const pQuality = 2 * tCdf(-Math.abs((qt.m - qc.m) / Math.sqrt(se2)), df);
      close(q.comparisons[0]?.p, pQuality, "quality p");

      // Holm over the family {resolved, quality} (one treatment arm × two decision metrics).
      const [lo, hi] = pResolved <= pQuality ? [pResolved, pQuality] : [pQuality, pResolved];
      const adjLo = Math.min(1, 2 * lo);
      const adjHi = Math.min(1, Math.max(adjLo, hi));
      close(cmp?.p_adjusted, pResolved <= pQuality ? adjLo : adjHi, "resolved adjusted p");
      close(q.comparisons[0]?.p_adjusted, pResolved <= pQuality ? adjHi : adjLo, "quality adjusted p");
      expect(cmp?.p_adjusted as number).toBeGreaterThan(cmp?.p as number);
      // Metrics outside the decision family are not adjusted.
      expect(metric(full, "cost_usd_per_call").comparisons[0]?.p_adjusted).toBeNull();
    });

    it("gives always-valid intervals that contain the estimate and are wider than the fixed-horizon ones", () => {
      const all = full.metrics.flatMap((m) => m.comparisons.map((c) => ({ m: m.name, c })));
      expect(all.length).toBeGreaterThanOrEqual(8);
      for (const { m, c } of all) {
        const [lo, hi] = c.always_valid.ci;
        expect(lo, m).toBeLessThanOrEqual(c.diff);
        expect(hi, m).toBeGreaterThanOrEqual(c.diff);
        expect(hi - lo, m).toBeGreaterThan(c.ci[1] - c.ci[0]);
        expect(c.ci[0], m).toBeLessThanOrEqual(c.diff);
        expect(c.ci[1], m).toBeGreaterThanOrEqual(c.diff);
      }
    });

    it("says how many units each arm still needs, fewer as data arrives", async () => {
      for (const r of [early, full]) {
        expect(r.power?.metric).toBe("resolved");
        expect(r.power?.mde_relative).toBe(0.05);
        // Control resolves exactly 1 in 4 at both looks, so the target is the same.
        expect(r.power?.control_value).toBe(0.25);
        const m = metric(r, "resolved");
        for (const rem of r.power?.remaining ?? []) {
          const n = armValue(m, rem.arm)?.n as number;
          expect(rem.units).toBe(Math.max(0, (r.power?.units_per_arm as number) - n));
        }
      }
      expect(full.power?.units_per_arm).toBe(early.power?.units_per_arm);
      expect(early.power?.units_per_arm as number).toBeGreaterThan(200);
      for (const arm of ["control", "finetuned"]) {
        const before = early.power?.remaining.find((x) => x.arm === arm)?.units as number;
        const after = full.power?.remaining.find((x) => x.arm === arm)?.units as number;
        expect(after, arm).toBeLessThan(before);
      }
      // A larger minimum detectable effect needs fewer units.
      const coarse = await report(id, "?mde=0.2");
      expect(coarse.power?.mde_relative).toBe(0.2);
      expect(coarse.power?.units_per_arm as number).toBeLessThan(full.power?.units_per_arm as number);
    });

    it("computes the fine-tune's ROI from its training cost, the saving per call and the observed rate", () => {
      expect(full.roi).toHaveLength(1);
      const roi = full.roi[0] as Report["roi"][number];
      const c = fromEvents(events, "control");
      const t = fromEvents(events, "finetuned");
      expect(roi.arm).toBe("finetuned");
      expect(roi.per).toBe("call");
      expect(roi.training_cost_usd).toBe(TRAINING_USD);
      expect(roi.evaluation_cost_usd).toBe(EVALUATION_USD);
      close(roi.upfrontCost, TRAINING_USD + EVALUATION_USD, "upfront");
      close(roi.cost_control, c.cost / c.priced, "control cost per call");
      close(roi.cost_arm, t.cost / t.priced, "fine-tune cost per call");
      const saving = c.cost / c.priced - t.cost / t.priced;
      expect(saving).toBeGreaterThan(0);
      close(roi.savingPerCall, saving, "saving per call");
      expect(roi.breaksEven).toBe(true);
      expect(roi.breakEvenCalls).toBe(Math.ceil((TRAINING_USD + EVALUATION_USD) / saving));
      // Observed rate: every call of the experiment over the span between its first and last
      // call (at least a minute).
      const times = events.map((e) => e.at.getTime());
      const days = Math.max((Math.max(...times) - Math.min(...times)) / 86_400_000, 1 / 1440);
      close(roi.observed_per_day, events.length / days, "calls per day");
      close(roi.daysToBreakEven, (TRAINING_USD + EVALUATION_USD) / saving / (events.length / days), "days");
      // Without the evaluation cost, break-even comes sooner.
      expect(early.roi[0]?.evaluation_cost_usd).toBe(0);
      expect(early.roi[0]?.upfrontCost).toBe(TRAINING_USD);
    });

    it("flags a skewed split at p < 0.001", async () => {
      await insertSkew(g, { id, system: "support", agent: "coordinator" }, "control", 150);
      const skewed = await report(id);
      const units = full.arms.map((a) => a.units);
      expect(skewed.srm?.counts).toEqual([(units[0] as number) + 150, units[1]]);
      expect(skewed.srm?.flagged).toBe(true);
      expect(skewed.srm?.p as number).toBeLessThan(0.001);
    });
  });

  describe("system-scoped: control vs hybrid (coordinator on base, specialists fine-tuned)", () => {
    const AGENTS = ["coordinator", "researcher", "writer"];
    const TRAINING: Record<string, number> = { coordinator: 0.001, researcher: 0.0003, writer: 0.0002 };
    const calls: Call[] = [];
    let id: number;
    let rep: Report;
    let events: Event[];

    beforeAll(async () => {
      await g.admin("POST", "/systems", { name: "wf", topology: "hierarchical" });
      for (const agent of AGENTS) {
        await g.admin("POST", "/systems/wf/agents", { name: agent });
        await g.admin("POST", `/systems/wf/agents/${agent}/versions`, {
          kind: "base_optimized",
          upstream: "fake",
          model: "base-model",
          pricing: BASE_PRICE,
        });
        await g.admin("POST", `/systems/wf/agents/${agent}/versions`, {
          kind: "fine_tuned",
          upstream: "fake",
          model: "ft-model",
          pricing: FT_PRICE,
          training_cost_usd: TRAINING[agent],
        });
      }
      const exp = await g.admin<{ id: number }>("POST", "/experiments", {
        name: "strategies",
        system: "wf",
        arms: [
          { name: "control", weight: 1, versions: { coordinator: 1, researcher: 1, writer: 1 } },
          { name: "hybrid", weight: 1, versions: { coordinator: 1, researcher: 2, writer: 2 } },
        ],
      });
      id = exp.id;
      await fixSalt(g, id, "report-test-system-scoped");
      await g.admin("POST", `/experiments/${id}/start`);
      await routingSettled(g);
      const runs = Array.from({ length: 40 }, (_, i) => `run-${i}`);
      await inPool(runs, 8, async (run) => {
        const i = Number(run.split("-")[1]);
        for (const agent of AGENTS)
          calls.push(await chat(g, "wf", agent, run, "a b c d e f".slice(0, 1 + 2 * (i % 4))));
      });
      events = await storedEvents(g, id);
      rep = await report(id);
    });

    it("keeps each workflow run in one arm and counts runs and calls per arm", () => {
      for (const run of new Set(calls.map((c) => c.session))) {
        const arms = new Set(calls.filter((c) => c.session === run).map((c) => c.arm));
        expect(arms.size, run).toBe(1);
      }
      const t = tally(calls);
      for (const a of rep.arms) {
        expect(a.units, a.name).toBe(t.get(a.name)?.units.size);
        expect(a.calls, a.name).toBe(t.get(a.name)?.calls);
        expect(a.calls).toBe(3 * a.units);
      }
      expect(rep.experiment.scope).toBe("system");
      expect(rep.srm?.flagged).toBe(false);
    });

    it("reports per-run metrics: cost and latency summed over each run's calls", () => {
      for (const name of ["cost_usd_per_run", "latency_ms_per_run"] as const) {
        const m = metric(rep, name);
        expect(m.per).toBe("unit");
        for (const arm of ["control", "hybrid"]) {
          const runs = [...fromEvents(events, arm).units.values()];
          const perRun = runs.map((u) =>
            sum(u.map((e) => (name === "cost_usd_per_run" ? (e.cost_usd ?? 0) : e.latency_ms))),
          );
          expect(armValue(m, arm)?.n).toBe(runs.length);
          close(armValue(m, arm)?.estimate, sum(perRun) / perRun.length, `${name} ${arm}`);
        }
      }
      const cost = metric(rep, "cost_usd_per_run").comparisons[0];
      expect(cost?.arm).toBe("hybrid");
      expect(cost?.diff).toBeLessThan(0);
      expect(rep.power).not.toBeNull();
      expect(rep.power?.remaining.map((r) => r.arm)).toEqual(["control", "hybrid"]);
    });

    it("breaks the arms down per agent", () => {
      const rows = rep.per_agent.map((r) => [r.arm, r.agent]);
      expect(rows).toEqual(["control", "hybrid"].flatMap((arm) => AGENTS.map((a) => [arm, a])));
      for (const row of rep.per_agent) {
        const mine = events.filter((e) => e.arm === row.arm && e.agent === row.agent);
        expect(row.calls).toBe(mine.length);
        expect(row.calls).toBe(calls.filter((c) => c.arm === row.arm && c.agent === row.agent).length);
        expect(row.error_rate).toBe(0);
        expect(row.fallbacks).toBe(0);
        close(row.cost_per_call, sum(mine.map((e) => e.cost_usd as number)) / mine.length, "cost");
        close(
          row.tokens_per_call,
          sum(mine.map((e) => (e.prompt_tokens ?? 0) + (e.completion_tokens ?? 0))) / mine.length,
          "tokens",
        );
        close(
          row.latency_p50_ms,
          percentileCont(
            mine.map((e) => e.latency_ms),
            0.5,
          ),
          "p50",
        );
      }
      // The fine-tuned specialists are cheaper and slower; the coordinator is the same in both arms.
      const row = (arm: string, agent: string) =>
        rep.per_agent.find((r) => r.arm === arm && r.agent === agent) as Report["per_agent"][number];
      expect(row("hybrid", "writer").cost_per_call as number).toBeLessThan(
        row("control", "writer").cost_per_call as number,
      );
      expect(row("hybrid", "writer").latency_p50_ms as number).toBeGreaterThanOrEqual(FT_LATENCY_MS);
      expect(row("hybrid", "writer").latency_p50_ms as number).toBeGreaterThan(
        (row("control", "writer").latency_p50_ms as number) + FT_LATENCY_MS / 2,
      );
    });

    it("counts only the arm's own fine-tunes in the ROI, per workflow run", () => {
      expect(rep.roi).toHaveLength(1);
      const roi = rep.roi[0] as Report["roi"][number];
      expect(roi.per).toBe("workflow_run");
      // researcher and writer v2; the coordinator's fine-tune is not in the arm.
      close(roi.training_cost_usd, (TRAINING.researcher as number) + (TRAINING.writer as number), "training");
      const perRun = (arm: string) => {
        const runs = [...fromEvents(events, arm).units.values()];
        return sum(runs.map((u) => sum(u.map((e) => e.cost_usd as number)))) / runs.length;
      };
      close(roi.cost_control, perRun("control"), "control cost per run");
      close(roi.cost_arm, perRun("hybrid"), "hybrid cost per run");
      const saving = perRun("control") - perRun("hybrid");
      expect(roi.breakEvenCalls).toBe(Math.ceil(roi.upfrontCost / saving));
      const times = events.map((e) => e.at.getTime());
      const days = Math.max((Math.max(...times) - Math.min(...times)) / 86_400_000, 1 / 1440);
      const runsPerDay = new Set(events.map((e) => e.unit_key)).size / days;
      close(roi.observed_per_day, runsPerDay, "runs per day");
      close(roi.daysToBreakEven, roi.upfrontCost / saving / runsPerDay, "days");
    });
  });
});
