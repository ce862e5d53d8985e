/**
 * One metric compared across arms: each arm's estimate with its interval, and each treatment arm
 * against the control (the first arm) with
 *   - a fixed-horizon test (valid if you look once; Holm-adjusted across arms and metrics later),
 *   - the relative lift (delta method),
 *   - always-valid inference for decisions taken while the test runs: a confidence sequence on the
 *     difference (at α/K for K treatment arms, Bonferroni) and an mSPRT p-value.
 * `verdict` uses only the always-valid interval, so peeking at a running report cannot inflate
 * false "better"/"worse" calls.
 */
import {
  type ArmEstimate,
  confidenceSequence,
  type Interval,
  logRatio,
  type MeanSummary,
  meanArmEstimate,
  msprtPValue,
  proportionArmEstimate,
  type RatioSummary,
  ratioArmEstimate,
  ratioDifference,
  ratioEstimate,
  relativeLift,
  sampleVariance,
  twoProportions,
  welchTest,
  wilsonInterval,
} from "../stats/index.js";
import { zCritical } from "../stats/util.js";

export type Direction = "higher" | "lower";
export type MetricKind = "ratio" | "mean" | "proportion" | "log_ratio";

export type ArmValue = { arm: string; n: number; estimate: number | null; ci: Interval | null };

export type Comparison = {
  arm: string;
  diff: number;
  /** Standard error of `diff`, and the units (n_C + n_T) it rests on: guardrails build their own
   * confidence sequences from these, at their own α. */
  se: number;
  n: number;
  ci: Interval;
  p: number;
  /** Filled in by the report (Holm across treatment arms × primary and secondary metrics). */
  p_adjusted: number | null;
  lift: number | null;
  lift_ci: Interval | null;
  /** Delta-method standard error of `lift` (null when there is no lift, or it is not a mean ratio). */
  lift_se: number | null;
  always_valid: { ci: Interval; p: number };
  verdict: "better" | "worse" | "inconclusive";
};

export type MetricResult = {
  name: string;
  kind: MetricKind;
  direction: Direction;
  /** What one observation is: a call, or a unit (workflow run / user / request). */
  per: "call" | "unit";
  arms: ArmValue[];
  comparisons: Comparison[];
};

export type CompareOptions = { alpha: number; treatments: number; tuningN: number };

type Stat = {
  diff: number;
  se: number;
  ci: Interval;
  p: number;
  nC: number;
  nT: number;
  control: ArmEstimate;
  treatment: ArmEstimate;
};

function finish(
  arm: string,
  s: Stat,
  direction: Direction,
  o: CompareOptions,
  relativeOnly = false,
): Comparison {
  const alpha = o.alpha / Math.max(1, o.treatments);
  const cs = confidenceSequence({ estimate: s.diff, se: s.se, n: s.nC + s.nT, alpha, tuningN: o.tuningN });
  // τ (the spread of plausible effects) at 10% of the control value, never below the current se.
  const tau = Math.max(Math.abs(s.control.estimate) * 0.1, s.se, 1e-12);
  const p = s.se > 0 ? msprtPValue({ estimate: s.diff, se: s.se, tau2: tau * tau }) : s.diff === 0 ? 1 : 0;
  let lift: number | null = null;
  let liftCi: Interval | null = null;
  let liftSe: number | null = null;
  if (s.control.estimate !== 0 && !relativeOnly) {
    const l = relativeLift(s.control, s.treatment, o.alpha);
    lift = l.lift;
    liftCi = l.ci;
    liftSe = l.se;
  }
  const good = direction === "higher" ? cs.ci[0] > 0 : cs.ci[1] < 0;
  const bad = direction === "higher" ? cs.ci[1] < 0 : cs.ci[0] > 0;
  return {
    arm,
    diff: s.diff,
    se: s.se,
    n: s.nC + s.nT,
    ci: s.ci,
    p: s.p,
    p_adjusted: null,
    lift,
    lift_ci: liftCi,
    lift_se: liftSe,
    always_valid: { ci: cs.ci, p },
    verdict: good ? "better" : bad ? "worse" : "inconclusive",
  };
}

type TwoArmTest<S> = {
  /** Enough data for a comparison (a variance needs two units). */
  ready(s: S): boolean;
  test(control: S, treatment: S, alpha: number): { diff: number; se: number; ci: Interval; p: number };
  estimate(s: S): ArmEstimate;
};

/** Each treatment arm against the control (the first arm), where both have enough data. */
function againstControl<S extends { n: number }>(
  arms: string[],
  data: Map<string, S>,
  direction: Direction,
  o: CompareOptions,
  t: TwoArmTest<S>,
  relativeOnly = false,
): Comparison[] {
  const c = data.get(arms[0] as string);
  if (!c || !t.ready(c)) return [];
  return arms.slice(1).flatMap((arm) => {
    const s = data.get(arm);
    if (!s || !t.ready(s)) return [];
    const r = t.test(c, s, o.alpha);
    const stat = { ...r, nC: c.n, nT: s.n, control: t.estimate(c), treatment: t.estimate(s) };
    return [finish(arm, stat, direction, o, relativeOnly)];
  });
}

/** Per-call ratio metric (errors per call, cost per call...) under unit randomization. */
export function compareRatio(
  name: string,
  direction: Direction,
  arms: string[],
  data: Map<string, RatioSummary>,
  o: CompareOptions,
): MetricResult {
  const z = zCritical(o.alpha);
  const values = arms.map((arm) => {
    const s = data.get(arm);
    if (!s || s.n < 2 || s.sumD === 0)
      return { arm, n: s?.n ?? 0, estimate: s && s.sumD > 0 ? s.sumM / s.sumD : null, ci: null };
    const e = ratioEstimate(s);
    return { arm, n: s.n, estimate: e.ratio, ci: [e.ratio - z * e.se, e.ratio + z * e.se] as Interval };
  });
  const comparisons = againstControl(arms, data, direction, o, {
    ready: (s) => s.n >= 2 && s.sumD > 0,
    test: ratioDifference,
    estimate: ratioArmEstimate,
  });
  return { name, kind: "ratio", direction, per: "call", arms: values, comparisons };
}

/** Per-unit mean metric (a score per workflow run, cost per run...): Welch's t. */
export function compareMean(
  name: string,
  direction: Direction,
  arms: string[],
  data: Map<string, MeanSummary>,
  o: CompareOptions,
): MetricResult {
  const z = zCritical(o.alpha);
  const values = arms.map((arm) => {
    const s = data.get(arm);
    if (!s || s.n === 0) return { arm, n: 0, estimate: null, ci: null };
    const m = s.sum / s.n;
    if (s.n < 2) return { arm, n: s.n, estimate: m, ci: null };
    const half = z * Math.sqrt(sampleVariance(s) / s.n);
    return { arm, n: s.n, estimate: m, ci: [m - half, m + half] as Interval };
  });
  const comparisons = againstControl(arms, data, direction, o, {
    ready: (s) => s.n >= 2,
    test: welchTest,
    estimate: meanArmEstimate,
  });
  return { name, kind: "mean", direction, per: "unit", arms: values, comparisons };
}

/** Per-unit success rate (a pass/fail per workflow run): Wilson intervals, two-proportion z-test. */
export function compareProportion(
  name: string,
  direction: Direction,
  arms: string[],
  data: Map<string, { successes: number; n: number }>,
  o: CompareOptions,
): MetricResult {
  const values = arms.map((arm) => {
    const p = data.get(arm);
    if (!p || p.n === 0) return { arm, n: 0, estimate: null, ci: null };
    const w = wilsonInterval(p.successes, p.n, o.alpha);
    return { arm, n: p.n, estimate: w.estimate, ci: w.ci };
  });
  const comparisons = againstControl(arms, data, direction, o, {
    ready: (p) => p.n >= 2,
    test: (c, t, alpha) => twoProportions(c, t, { alpha }),
    estimate: proportionArmEstimate,
  });
  return { name, kind: "proportion", direction, per: "unit", arms: values, comparisons };
}

/**
 * Latency as the ratio of geometric means (Welch on log latency, per call). Calls of one run are
 * treated as independent here, which narrows the interval when runs differ a lot; p50/p95 are
 * reported beside it.
 */
export function compareLogLatency(
  arms: string[],
  data: Map<string, MeanSummary>,
  o: CompareOptions,
): MetricResult {
  const values = arms.map((arm) => {
    const s = data.get(arm);
    if (!s || s.n === 0) return { arm, n: 0, estimate: null, ci: null };
    return { arm, n: s.n, estimate: Math.exp(s.sum / s.n), ci: null };
  });
  const control = data.get(arms[0] as string);
  const comparisons = againstControl(
    arms,
    data,
    "lower",
    o,
    { ready: (s) => s.n >= 2, test: (c, t, alpha) => logRatio(c, t, alpha).welch, estimate: meanArmEstimate },
    true,
  ).map((cmp) => {
    // On this metric the lift is the geometric-mean ratio minus one.
    const r = logRatio(control as MeanSummary, data.get(cmp.arm) as MeanSummary, o.alpha);
    return { ...cmp, lift: r.ratio - 1, lift_ci: [r.ci[0] - 1, r.ci[1] - 1] as Interval };
  });
  return {
    name: "latency_geomean_ms",
    kind: "log_ratio",
    direction: "lower",
    per: "call",
    arms: values,
    comparisons,
  };
}
