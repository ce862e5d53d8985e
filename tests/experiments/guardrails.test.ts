/**
 * Guardrail decisions, pure: reports are built with the report's own compare functions from
 * sufficient statistics, then judged by `evaluateGuardrails`.
 *   - each kind of limit (max_increase, max_decrease, relative, no limit, max/min SLOs) breaches
 *     when it should and holds when it should; too few units is "insufficient", never a breach;
 *   - the guardrail α is split over guardrails × treatment arms;
 *   - simulated A/A experiments (seeded, 20 looks each, realistic clustering of calls in runs):
 *     the fraction ever rolled back stays ≤ α (+ Monte Carlo margin) — the number the issue asks
 *     to report is printed — while a truly worse challenger is rolled back almost always;
 *   - the validation rules and ramps' effective weights.
 */
import { describe, expect, it } from "vitest";
import {
  evaluateGuardrails,
  type GuardrailReport,
  guardrailProblem,
  LOG_LATENCY_SOURCE,
  P95_EXCEEDANCE_SOURCE,
} from "../../src/experiments/guardrails.js";
import { effectiveWeights, rampPercent } from "../../src/experiments/ramp.js";
import { compareProportion, compareRatio, type MetricResult } from "../../src/experiments/report/compare.js";
import { experimentCreate, type GuardrailSpec, guardrailInput } from "../../src/experiments/schemas.js";
import type { RatioSummary } from "../../src/experiments/stats/index.js";
import { assign } from "../../src/gateway/assignment.js";
import { type Rng, seededRng } from "../stats/prng.js";

const ALPHA = 0.05;
const g = (x: Record<string, unknown>): GuardrailSpec => guardrailInput.parse(x);
const opts = (k: number) => ({ alpha: ALPHA, treatments: k, tuningN: 5000 });

type Acc = { -readonly [K in keyof RatioSummary]: RatioSummary[K] };
const emptyAcc = (): Acc => ({ n: 0, sumM: 0, sumM2: 0, sumD: 0, sumD2: 0, sumMD: 0 });
function add(a: Acc, m: number, d: number): void {
  a.n++;
  a.sumM += m;
  a.sumM2 += m * m;
  a.sumD += d;
  a.sumD2 += d * d;
  a.sumMD += m * d;
}

/** Per-unit (numerator, calls) pairs: `units` units, each with `calls` calls, `rate` of them counting. */
function ratioData(rng: Rng, units: number, rate: number, value = 1): Acc {
  const a = emptyAcc();
  for (let i = 0; i < units; i++) {
    const d = 1 + Math.floor(rng.uniform() * 4);
    let m = 0;
    for (let c = 0; c < d; c++) if (rng.uniform() < rate) m += value;
    add(a, m, d);
  }
  return a;
}

/** Per-unit cost: each call costs `mean` ± 20%. */
function costData(rng: Rng, units: number, mean: number): Acc {
  const a = emptyAcc();
  for (let i = 0; i < units; i++) {
    const d = 1 + Math.floor(rng.uniform() * 4);
    let m = 0;
    for (let c = 0; c < d; c++) m += mean * (0.8 + 0.4 * rng.uniform());
    add(a, m, d);
  }
  return a;
}

function reportOf(
  arms: { name: string; units: number; p95?: number | null }[],
  metrics: MetricResult[],
  srmFlagged = false,
): GuardrailReport {
  return {
    arms: arms.map((a) => ({
      name: a.name,
      weight: 1 / arms.length,
      versions: {},
      units: a.units,
      calls: a.units * 2,
      latency_p50_ms: null,
      latency_p95_ms: a.p95 ?? null,
    })),
    metrics,
    srm: srmFlagged
      ? { chi2: 30, df: 1, p: 1e-7, flagged: true, expected: [], counts: [], weights: [], since: null }
      : null,
  };
}

const ARMS2 = ["control", "ft"];
const twoArms = (units: number, p95?: [number, number]) => [
  { name: "control", units, p95: p95?.[0] ?? null },
  { name: "ft", units, p95: p95?.[1] ?? null },
];

describe("guardrail decision rules", () => {
  const rng = seededRng(7);
  const errorsBad = compareRatio(
    "error_rate",
    "lower",
    ARMS2,
    new Map([
      ["control", ratioData(rng, 400, 0.05)],
      ["ft", ratioData(rng, 400, 0.3)],
    ]),
    opts(1),
  );

  it("max_increase: breaches only when the whole interval of T − C is above the margin", () => {
    const r = reportOf(twoArms(400), [errorsBad]);
    const breach = evaluateGuardrails(r, [g({ metric: "error_rate", max_increase: 0.05 })], { alpha: ALPHA });
    expect(breach.status).toBe("breach");
    expect(breach.breaches).toHaveLength(1);
    const b = breach.breaches[0];
    expect(b).toMatchObject({
      arm: "ft",
      metric: "error_rate",
      source: "error_rate",
      limit: { kind: "max_increase", value: 0.05, relative: false },
      units: { control: 400, treatment: 400 },
      alpha: ALPHA,
    });
    expect(b?.interval?.[0]).toBeGreaterThan(0.05);
    expect(b?.observed).toBeCloseTo(0.25, 1);
    expect(b?.evidence).toMatch(/error_rate of arm 'ft' is worse than control 'control'/);
    expect(b?.evidence).toMatch(/always-valid 95% interval \[\+0\.\d+, \+0\.\d+\]/);

    // The same data within a wide margin: the interval is not wholly beyond it.
    const ok = evaluateGuardrails(r, [g({ metric: "error_rate", max_increase: 0.5 })], { alpha: ALPHA });
    expect(ok.status).toBe("ok");
    expect(ok.breaches).toEqual([]);
    expect(ok.results[0]?.interval?.[0]).toBeLessThan(0.5);
  });

  it("no limit means no worse than control, in the metric's direction", () => {
    const worse = evaluateGuardrails(reportOf(twoArms(400), [errorsBad]), [g({ metric: "error_rate" })], {
      alpha: ALPHA,
    });
    expect(worse.status).toBe("breach");
    expect(worse.breaches[0]?.limit).toEqual({ kind: "no_worse", value: 0, relative: false });
    // Treatment with far fewer errors: better, not a breach.
    const better = compareRatio(
      "error_rate",
      "lower",
      ARMS2,
      new Map([
        ["control", ratioData(rng, 400, 0.3)],
        ["ft", ratioData(rng, 400, 0.02)],
      ]),
      opts(1),
    );
    const r = evaluateGuardrails(reportOf(twoArms(400), [better]), [g({ metric: "error_rate" })], {
      alpha: ALPHA,
    });
    expect(r.status).toBe("ok");
    expect(r.results[0]?.interval?.[1]).toBeLessThan(0);
  });

  it("max_decrease on a higher-is-better declared metric (a success rate per run)", () => {
    const helpful = (t: number) =>
      compareProportion(
        "helpful",
        "higher",
        ARMS2,
        new Map([
          ["control", { successes: 240, n: 300 }],
          ["ft", { successes: t, n: 300 }],
        ]),
        opts(1),
      );
    const guard = [g({ metric: "helpful", max_decrease: 0.05 })];
    const bad = evaluateGuardrails(reportOf(twoArms(300), [helpful(150)]), guard, { alpha: ALPHA });
    expect(bad.status).toBe("breach");
    expect(bad.breaches[0]?.interval?.[1]).toBeLessThan(-0.05);
    expect(bad.breaches[0]?.evidence).toMatch(/lies wholly below -0\.05/);
    // A slightly lower rate is within the margin.
    const close = evaluateGuardrails(reportOf(twoArms(300), [helpful(236)]), guard, { alpha: ALPHA });
    expect(close.status).toBe("ok");
    // Much better: an improvement is never a breach.
    const up = evaluateGuardrails(reportOf(twoArms(300), [helpful(290)]), [g({ metric: "helpful" })], {
      alpha: ALPHA,
    });
    expect(up.status).toBe("ok");
  });

  it("relative margins judge the lift (T − C)/C", () => {
    const cost = (t: number) =>
      compareRatio(
        "cost_usd_per_call",
        "lower",
        ARMS2,
        new Map([
          ["control", costData(seededRng(1), 300, 1)],
          ["ft", costData(seededRng(2), 300, t)],
        ]),
        opts(1),
      );
    const rel = (x: number) => [g({ metric: "cost_usd_per_call", max_increase: x, relative: true })];
    const r = evaluateGuardrails(reportOf(twoArms(300), [cost(1.5)]), rel(0.2), { alpha: ALPHA });
    expect(r.status).toBe("breach");
    const b = r.breaches[0];
    expect(b?.observed).toBeCloseTo(0.5, 1);
    expect(b?.interval?.[0]).toBeGreaterThan(0.2);
    expect(b?.interval?.[1]).toBeLessThan(0.8);
    expect(b?.evidence).toMatch(/\(treatment − control\)\/control = \+\d+(\.\d+)?%/);
    // 50% more expensive is within a 80% margin; the absolute margin 0.2 (dollars) is not.
    expect(evaluateGuardrails(reportOf(twoArms(300), [cost(1.5)]), rel(0.8), { alpha: ALPHA }).status).toBe(
      "ok",
    );
    expect(
      evaluateGuardrails(
        reportOf(twoArms(300), [cost(1.5)]),
        [g({ metric: "cost_usd_per_call", max_increase: 0.2 })],
        {
          alpha: ALPHA,
        },
      ).status,
    ).toBe("breach");
  });

  it("latency margins are on the geometric mean (log scale), relative or in ms", () => {
    const rng2 = seededRng(11);
    const logLat = (mult: number) => {
      const a = emptyAcc();
      for (let i = 0; i < 300; i++) {
        let m = 0;
        for (let c = 0; c < 3; c++) m += Math.log(800 * mult) + 0.3 * rng2.normal();
        add(a, m, 3);
      }
      return a;
    };
    const metric = compareRatio(
      LOG_LATENCY_SOURCE,
      "lower",
      ARMS2,
      new Map([
        ["control", logLat(1)],
        ["ft", logLat(1.5)],
      ]),
      opts(1),
    );
    const rel = evaluateGuardrails(
      reportOf(twoArms(300), [metric]),
      [g({ metric: "latency_geomean_ms", max_increase: 0.2, relative: true })],
      { alpha: ALPHA },
    );
    expect(rel.status).toBe("breach");
    expect(rel.breaches[0]?.observed).toBeCloseTo(0.5, 1);
    const ms = evaluateGuardrails(
      reportOf(twoArms(300), [metric]),
      [g({ metric: "latency_geomean_ms", max_increase: 300 })],
      { alpha: ALPHA },
    );
    expect(ms.status).toBe("breach");
    expect(ms.breaches[0]?.observed).toBeGreaterThan(350);
    expect(ms.breaches[0]?.observed).toBeLessThan(450);
    const wide = evaluateGuardrails(
      reportOf(twoArms(300), [metric]),
      [g({ metric: "latency_geomean_ms", max_increase: 600 })],
      { alpha: ALPHA },
    );
    expect(wide.status).toBe("ok");
  });

  it("p95 without a limit is judged on the share of calls slower than the pooled p95", () => {
    const slow = (rate: number) => ratioData(seededRng(5), 400, rate);
    const metric = compareRatio(
      P95_EXCEEDANCE_SOURCE,
      "lower",
      ARMS2,
      new Map([
        ["control", slow(0.02)],
        ["ft", slow(0.1)],
      ]),
      opts(1),
    );
    const r = evaluateGuardrails(reportOf(twoArms(400), [metric]), [g({ metric: "latency_p95_ms" })], {
      alpha: ALPHA,
    });
    expect(r.status).toBe("breach");
    expect(r.breaches[0]?.source).toBe(P95_EXCEEDANCE_SOURCE);
    // Without that statistic (no calls yet) it holds.
    expect(
      evaluateGuardrails(reportOf(twoArms(400), []), [g({ metric: "latency_p95_ms" })], { alpha: ALPHA })
        .status,
    ).toBe("insufficient");
  });

  it("max/min SLOs compare each treatment arm's observed value, after min_units", () => {
    const slo = [g({ metric: "latency_p95_ms", max: 2000 })];
    const over = evaluateGuardrails(reportOf(twoArms(150, [900, 2500]), []), slo, { alpha: ALPHA });
    expect(over.status).toBe("breach");
    expect(over.breaches[0]).toMatchObject({
      source: "arms.latency_p95_ms",
      observed: 2500,
      interval: null,
      limit: { kind: "max", value: 2000 },
    });
    expect(over.breaches[0]?.evidence).toMatch(/above its max 2000/);
    expect(evaluateGuardrails(reportOf(twoArms(150, [900, 1900]), []), slo, { alpha: ALPHA }).status).toBe(
      "ok",
    );
    // Too few units: hold, however bad the value looks.
    expect(evaluateGuardrails(reportOf(twoArms(99, [900, 9000]), []), slo, { alpha: ALPHA }).status).toBe(
      "insufficient",
    );
    const helpful = compareProportion(
      "helpful",
      "higher",
      ARMS2,
      new Map([
        ["control", { successes: 90, n: 120 }],
        ["ft", { successes: 60, n: 120 }],
      ]),
      opts(1),
    );
    const min = evaluateGuardrails(reportOf(twoArms(120), [helpful]), [g({ metric: "helpful", min: 0.6 })], {
      alpha: ALPHA,
    });
    expect(min.status).toBe("breach");
    expect(min.breaches[0]?.observed).toBeCloseTo(0.5, 6);
  });

  it("below min_units, or with nothing to compare, the verdict is insufficient: hold, never roll back", () => {
    const r = reportOf(twoArms(400), [errorsBad]);
    const few = evaluateGuardrails(r, [g({ metric: "error_rate", max_increase: 0.01, min_units: 500 })], {
      alpha: ALPHA,
    });
    expect(few.status).toBe("insufficient");
    expect(few.breaches).toEqual([]);
    expect(few.results[0]?.evidence).toMatch(/400 units vs 400 in control, needs 500 in each/);
    const none = evaluateGuardrails(r, [g({ metric: "helpful", max_decrease: 0.01 })], { alpha: ALPHA });
    expect(none.status).toBe("insufficient");
    expect(none.results[0]?.evidence).toMatch(/no data yet/);
    // A breach elsewhere still wins over an insufficient guardrail.
    const both = evaluateGuardrails(
      r,
      [g({ metric: "helpful", max_decrease: 0.01 }), g({ metric: "error_rate", max_increase: 0.01 })],
      { alpha: ALPHA },
    );
    expect(both.status).toBe("breach");
    // No guardrails: nothing to hold on.
    expect(evaluateGuardrails(r, [], { alpha: ALPHA }).status).toBe("ok");
  });

  it("splits α over comparison guardrails × treatment arms (SLOs are not tests)", () => {
    const three = ["control", "a", "b"];
    const data = new Map([
      ["control", ratioData(seededRng(3), 200, 0.05)],
      ["a", ratioData(seededRng(4), 200, 0.05)],
      ["b", ratioData(seededRng(6), 200, 0.05)],
    ]);
    const metric = compareRatio("error_rate", "lower", three, data, opts(2));
    const r = reportOf(
      three.map((name) => ({ name, units: 200, p95: 100 })),
      [metric],
    );
    const check = evaluateGuardrails(
      r,
      [
        g({ metric: "error_rate", max_increase: 0.02 }),
        g({ metric: "tokens_per_call" }),
        g({ metric: "latency_p95_ms", max: 5000 }),
      ],
      { alpha: ALPHA },
    );
    expect(check.comparisons).toBe(4);
    const er = check.results.filter((x) => x.metric === "error_rate");
    expect(er.map((x) => x.arm)).toEqual(["a", "b"]);
    for (const x of er) expect(x.alpha).toBeCloseTo(ALPHA / 4, 12);
    expect(check.results.find((x) => x.metric === "latency_p95_ms")?.alpha).toBeNull();
    // A flagged sample-ratio mismatch is reported beside the verdict.
    expect(evaluateGuardrails(reportOf(twoArms(10), [], true), [], { alpha: ALPHA }).srm_flagged).toBe(true);
  });
});

describe("guardrail validation", () => {
  it("accepts the documented shapes with defaults", () => {
    expect(g({ metric: "error_rate" })).toEqual({ metric: "error_rate", relative: false, min_units: 100 });
    expect(g({ metric: "helpful", max_decrease: 0.05, relative: true, min_units: 30 })).toMatchObject({
      max_decrease: 0.05,
      relative: true,
      min_units: 30,
    });
  });

  it.each([
    [{ metric: "error_rate", max_increase: 0.1, max_decrease: 0.1 }, "max_decrease", /not both/],
    [{ metric: "error_rate", relative: true }, "relative", /give one of them/],
    [{ metric: "error_rate", max_increase: -1 }, "max_increase", /≥ 0/],
    [{ metric: "error_rate", max: 1, min: 0 }, "min", /not both/],
    [{ metric: "error_rate", min_units: 1 }, "min_units", /at least 2/],
    [{ metric: "error_rate", threshold: 1 }, "", /threshold/],
    [{ metric: "Bad Name" }, "metric", /lowercase/],
  ])("refuses %j", (input, field, message) => {
    const r = guardrailInput.safeParse(input);
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path.join(".")).toBe(field);
    expect(issue?.message).toMatch(message);
  });

  it("checks limits against the metric's direction and availability", () => {
    expect(guardrailProblem(g({ metric: "error_rate", max_increase: 0.1 }), "lower", false)).toBeNull();
    expect(guardrailProblem(g({ metric: "error_rate", max_decrease: 0.1 }), "lower", false)?.[1]).toMatch(
      /lower-is-better, so a decrease is an improvement; limit the increase with max_increase/,
    );
    expect(guardrailProblem(g({ metric: "helpful", max_increase: 0.1 }), "higher", false)?.[0]).toBe(
      "max_increase",
    );
    expect(guardrailProblem(g({ metric: "helpful", max: 0.9 }), "higher", false)?.[0]).toBe("max");
    expect(guardrailProblem(g({ metric: "error_rate", min: 0.1 }), "lower", false)?.[0]).toBe("min");
    expect(guardrailProblem(g({ metric: "latency_p95_ms", max_increase: 100 }), "lower", true)?.[1]).toMatch(
      /latency_p95_ms takes max/,
    );
    expect(guardrailProblem(g({ metric: "cost_usd_per_run" }), "lower", false)?.[1]).toMatch(/workflow runs/);
    expect(guardrailProblem(g({ metric: "cost_usd_per_run" }), "lower", true)).toBeNull();
  });

  it("validates ramps and the guardrail α in the create body", () => {
    const base = {
      name: "e",
      system: "s",
      arms: [
        { name: "control", weight: 1, versions: { a: 1 } },
        { name: "ft", weight: 1, versions: { a: 2 } },
      ],
    };
    const ok = experimentCreate.parse({ ...base, ramp: { steps: [5, 25, 50], hold_minutes: 30 } });
    expect(ok.ramp).toEqual({ steps: [5, 25, 50], hold_minutes: 30 });
    expect(ok.guardrail_alpha).toBeUndefined();
    const bad = (body: Record<string, unknown>) => {
      const r = experimentCreate.safeParse({ ...base, ...body });
      return r.success ? null : `${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message}`;
    };
    expect(bad({ ramp: { steps: [25, 5], hold_minutes: 1 } })).toBe(
      "ramp.steps: must be strictly increasing",
    );
    expect(bad({ ramp: { steps: [5, 150], hold_minutes: 1 } })).toBe("ramp.steps.1: must be in (0, 100]");
    expect(bad({ ramp: { steps: [0, 10], hold_minutes: 1 } })).toBe("ramp.steps.0: must be in (0, 100]");
    expect(bad({ ramp: { steps: [], hold_minutes: 1 } })).toBe("ramp.steps: must have at least one step");
    expect(bad({ ramp: { steps: [10], hold_minutes: -1 } })).toBe("ramp.hold_minutes: must be ≥ 0");
    expect(bad({ guardrail_alpha: 0 })).toBe("guardrail_alpha: must be in (0, 0.5]");
    expect(bad({ guardrail_alpha: 0.01 })).toBeNull();
  });
});

describe("ramp weights", () => {
  const ramp = { steps: [10, 50, 100], hold_minutes: 1 };

  it("gives the control 100 − step% and the treatments step% in proportion to their weights", () => {
    expect(effectiveWeights([3, 1], null, null)).toEqual([0.75, 0.25]);
    expect(effectiveWeights([3, 1], ramp, null)).toEqual([0.75, 0.25]);
    const w = effectiveWeights([5, 1, 3], ramp, 0);
    expect(w[0]).toBeCloseTo(0.9, 12);
    expect(w[1]).toBeCloseTo(0.025, 12);
    expect(w[2]).toBeCloseTo(0.075, 12);
    expect(effectiveWeights([1, 1], ramp, 1)).toEqual([0.5, 0.5]);
    expect(effectiveWeights([1, 1], ramp, 2)).toEqual([0, 1]);
    expect(rampPercent(ramp, 7)).toBe(100);
  });

  it("only moves units from the control to a treatment when the share grows", () => {
    const salt = "0123456789abcdef";
    let moved = 0;
    for (let i = 0; i < 5000; i++) {
      const key = `session:${i}`;
      const before = assign(salt, key, effectiveWeights([1, 1], ramp, 0)).arm;
      const after = assign(salt, key, effectiveWeights([1, 1], ramp, 1)).arm;
      if (before === 1) expect(after).toBe(1);
      if (before !== after) moved++;
    }
    // About 40% of units move from control (90% → 50%).
    expect(moved / 5000).toBeGreaterThan(0.37);
    expect(moved / 5000).toBeLessThan(0.43);
  });
});

// ————————————————————————————— A/A simulation —————————————————————————————

const LOOKS = 20;
const UNITS_PER_LOOK = 150; // per arm: looks at 150, 300, ..., 3,000 units per arm
const LOG_MEDIAN = Math.log(800);
const UNIT_SD = 0.3; // run-to-run spread of log latency: calls of one run are correlated
const CALL_SD = 0.4;
/** The true p95 of call latency (the pooled p95 the gateway estimates converges to it). */
const P95_LOG = LOG_MEDIAN + 1.6448536269514722 * Math.sqrt(UNIT_SD ** 2 + CALL_SD ** 2);

type ArmSim = { errors: Acc; lat: Acc; slow: Acc; helpful: { successes: number; n: number }; units: number };
type Effect = { errorRate: number; latencyMult: number; helpful: number };
const NULL_EFFECT: Effect = { errorRate: 0, latencyMult: 1, helpful: 0 };

function simulateUnit(rng: Rng, arm: ArmSim, e: Effect, latency: boolean): void {
  const calls = 1 + Math.floor(rng.uniform() * 5);
  // Runs differ: some are error-prone (2% or 8% per call, 5% on average).
  const pErr = (rng.uniform() < 0.5 ? 0.02 : 0.08) + e.errorRate;
  const u = latency ? UNIT_SD * rng.normal() + Math.log(e.latencyMult) : 0;
  let errs = 0;
  let lg = 0;
  let slow = 0;
  for (let c = 0; c < calls; c++) {
    if (rng.uniform() < pErr) errs++;
    if (!latency) continue;
    const l = LOG_MEDIAN + u + CALL_SD * rng.normal();
    lg += l;
    if (l > P95_LOG) slow++;
  }
  add(arm.errors, errs, calls);
  add(arm.lat, lg, calls);
  add(arm.slow, slow, calls);
  arm.helpful.n++;
  if (rng.uniform() < 0.7 + e.helpful) arm.helpful.successes++;
  arm.units++;
}

/**
 * Runs `runs` experiments of `arms` arms (the first is the control; `effect` applies to every
 * treatment arm), checked with `guardrails` at each of 20 looks. Returns how many were rolled back
 * at any look, and the mean look of the first rollback.
 */
function simulate(
  runs: number,
  seed: number,
  arms: number,
  guardrails: GuardrailSpec[],
  effect: Effect,
): { rolledBack: number; rate: number; meanLook: number } {
  const rng = seededRng(seed);
  const names = ["control", ...Array.from({ length: arms - 1 }, (_, i) => `t${i + 1}`)];
  const o = opts(arms - 1);
  const wants = new Set(guardrails.map((x) => x.metric));
  const latency = wants.has("latency_geomean_ms") || wants.has("latency_p95_ms");
  let rolledBack = 0;
  let lookSum = 0;
  for (let r = 0; r < runs; r++) {
    const sims: ArmSim[] = names.map(() => ({
      errors: emptyAcc(),
      lat: emptyAcc(),
      slow: emptyAcc(),
      helpful: { successes: 0, n: 0 },
      units: 0,
    }));
    for (let look = 1; look <= LOOKS; look++) {
      for (const [i, s] of sims.entries()) {
        for (let u = 0; u < UNITS_PER_LOOK; u++)
          simulateUnit(rng, s, i === 0 ? NULL_EFFECT : effect, latency);
      }
      const by = <T>(f: (s: ArmSim) => T) => new Map(names.map((n, i) => [n, f(sims[i] as ArmSim)]));
      const report = reportOf(
        names.map((name, i) => ({ name, units: sims[i]?.units ?? 0 })),
        [
          ...(wants.has("error_rate")
            ? [
                compareRatio(
                  "error_rate",
                  "lower",
                  names,
                  by((s) => s.errors),
                  o,
                ),
              ]
            : []),
          ...(wants.has("latency_geomean_ms")
            ? [
                compareRatio(
                  LOG_LATENCY_SOURCE,
                  "lower",
                  names,
                  by((s) => s.lat),
                  o,
                ),
              ]
            : []),
          ...(wants.has("latency_p95_ms")
            ? [
                compareRatio(
                  P95_EXCEEDANCE_SOURCE,
                  "lower",
                  names,
                  by((s) => s.slow),
                  o,
                ),
              ]
            : []),
          ...(wants.has("helpful")
            ? [
                compareProportion(
                  "helpful",
                  "higher",
                  names,
                  by((s) => s.helpful),
                  o,
                ),
              ]
            : []),
        ],
      );
      const check = evaluateGuardrails(report, guardrails, { alpha: ALPHA, tuningN: 5000 });
      if (check.status === "breach") {
        rolledBack++;
        lookSum += look;
        break;
      }
    }
  }
  return { rolledBack, rate: rolledBack / runs, meanLook: rolledBack ? lookSum / rolledBack : 0 };
}

/** Margin: 3 Monte Carlo standard errors of a rate of α. */
const margin = (runs: number) => 3 * Math.sqrt((ALPHA * (1 - ALPHA)) / runs);

const ALL_FOUR = [
  g({ metric: "error_rate" }),
  g({ metric: "latency_geomean_ms", max_increase: 0, relative: true }),
  g({ metric: "helpful" }),
  g({ metric: "latency_p95_ms" }),
];

describe("A/A: the false-rollback rate stays at or under α", () => {
  it("one guardrail (error_rate, no worse than control), 2,000 experiments × 20 looks", () => {
    const runs = 2000;
    const r = simulate(runs, 20261125, 2, [g({ metric: "error_rate" })], NULL_EFFECT);
    console.log(
      `A/A false-rollback rate, 1 guardrail (error_rate, margin 0), 2 arms, ${runs} experiments × ${LOOKS} looks: ${r.rate.toFixed(4)} (${r.rolledBack}/${runs}; α = ${ALPHA})`,
    );
    expect(r.rate).toBeLessThanOrEqual(ALPHA + margin(runs));
  });

  it("four guardrails (errors, latency, a success rate, p95), 1,000 experiments × 20 looks", () => {
    const runs = 1000;
    const r = simulate(runs, 42, 2, ALL_FOUR, NULL_EFFECT);
    console.log(
      `A/A false-rollback rate, 4 guardrails (margin 0), 2 arms, ${runs} experiments × ${LOOKS} looks: ${r.rate.toFixed(4)} (${r.rolledBack}/${runs}; α = ${ALPHA})`,
    );
    expect(r.rate).toBeLessThanOrEqual(ALPHA + margin(runs));
  });

  it("four guardrails, 3 arms (A/A/A), 600 experiments × 20 looks", () => {
    const runs = 600;
    const r = simulate(runs, 7, 3, ALL_FOUR, NULL_EFFECT);
    console.log(
      `A/A false-rollback rate, 4 guardrails (margin 0), 3 arms, ${runs} experiments × ${LOOKS} looks: ${r.rate.toFixed(4)} (${r.rolledBack}/${runs}; α = ${ALPHA})`,
    );
    expect(r.rate).toBeLessThanOrEqual(ALPHA + margin(runs));
  });

  it("a truly worse challenger is rolled back (the same simulation can tell)", () => {
    const runs = 200;
    const errors = simulate(runs, 3, 2, ALL_FOUR, { ...NULL_EFFECT, errorRate: 0.03 });
    const slower = simulate(runs, 4, 2, ALL_FOUR, { ...NULL_EFFECT, latencyMult: 1.15 });
    const worse = simulate(runs, 5, 2, ALL_FOUR, { ...NULL_EFFECT, helpful: -0.08 });
    console.log(
      `worse challenger rolled back: errors 5%→8% ${errors.rate} (mean look ${errors.meanLook.toFixed(1)}), latency ×1.15 ${slower.rate} (look ${slower.meanLook.toFixed(1)}), success 70%→62% ${worse.rate} (look ${worse.meanLook.toFixed(1)})`,
    );
    for (const r of [errors, slower, worse]) expect(r.rate).toBeGreaterThanOrEqual(0.9);
  });
});
