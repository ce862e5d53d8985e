/**
 * Guardrails: what a treatment arm must not do, and the pure decision rule that turns a report
 * into "ok", "breach" or "insufficient" (notes §5.10; Argo's Successful/Failed/Inconclusive,
 * Flagger's thresholds). The guardian (guardian.ts) runs it periodically and acts on it.
 *
 * A guardrail is `{metric, max_increase?, max_decrease?, relative?, max?, min?, min_units?}`:
 *
 * - metric: a declared metric (feedback) or a built-in one. Built-in names are the report's and
 *   their short aliases: `error_rate` (5xx/429 and fallbacks count as the arm's errors),
 *   `latency_geomean_ms`, `latency_p95_ms`, `cost_usd_per_call`, `tokens_per_call`, and, when
 *   units are workflow runs, `cost_usd_per_run` and `latency_ms_per_run` (metrics.ts lists the
 *   same names). Every built-in is lower-is-better; a declared metric has its direction.
 * - comparison limits, against the control (the first arm), judged on an always-valid confidence
 *   sequence of treatment − control (so checking at every look is safe):
 *     max_increase: x   (lower-is-better metrics) breach when the whole interval of T − C lies
 *                       above +x;
 *     max_decrease: x   (higher-is-better metrics) breach when the whole interval lies below −x;
 *     no limit at all   "no worse than the control": the same rule with x = 0.
 *   With `relative: true`, x is a fraction of the control's value (0.1 = 10%) and the interval is
 *   the confidence sequence of the relative lift (T − C)/C (delta method); for latency it is the
 *   ratio of geometric means minus one, exactly. When the control's value is 0 the lift is
 *   undefined and the margin is x·0 = 0 on the difference.
 *   Latency comparisons use per-unit sums of log latency (clustered by unit, delta method), not
 *   the report's per-call Welch test, whose interval is too narrow when calls of one run are
 *   correlated. `latency_p95_ms` has no mean to compare: with no limit it is judged on the share of
 *   calls slower than the pooled p95 of all arms (T − C must not be above 0).
 * - absolute limits (SLOs, Flagger's thresholdRange): `max` (lower-is-better) or `min`
 *   (higher-is-better) on each treatment arm's observed value — the arm's p95 for
 *   `latency_p95_ms`, its geometric mean for `latency_geomean_ms`. They compare a point value with a
 *   threshold; they are not tests and are outside the α accounting.
 * - min_units (default 100): units needed in the control and the treatment arm (the treatment
 *   alone for an SLO) before the guardrail is judged. Units are workflow runs/users/requests
 *   with events; for a declared metric, units with feedback.
 *
 * Error rates: the experiment's `guardrail_alpha` (default 0.05) bounds the chance that a
 * treatment that is in truth within every margin is ever rolled back by a comparison guardrail,
 * however often it is checked: each of the G comparison guardrails × K treatment arms uses a
 * two-sided confidence sequence at α/(G·K) (Bonferroni; a breach needs the one worse side).
 *
 * Outcome: "breach" if any (guardrail, arm) is breached; else "insufficient" if any lacks data
 * (below min_units, no feedback yet, no comparison possible) — inconclusive holds a ramp and never
 * rolls back; else "ok". A flagged sample-ratio mismatch is reported beside the outcome: it holds a
 * ramp but does not prevent a rollback (returning traffic to the control is the safe action).
 */
import type { Comparison, Direction, MetricResult } from "./report/compare.js";
import type { Report } from "./report/report.js";
import type { GuardrailSpec } from "./schemas.js";
import { confidenceSequence, DEFAULT_TUNING_N, type Interval } from "./stats/index.js";

/** Guardrail-only metrics the guardian adds to a report (names no declared metric can take). */
export const LOG_LATENCY_SOURCE = "guardrail:latency_log_ms";
export const P95_EXCEEDANCE_SOURCE = "guardrail:latency_p95_exceedance";

type BuiltIn = { source: string; scale: "linear" | "log"; perRun?: boolean };
const BUILT_IN: Record<string, BuiltIn> = {
  error_rate: { source: "error_rate", scale: "linear" },
  cost_usd_per_call: { source: "cost_usd_per_call", scale: "linear" },
  tokens_per_call: { source: "tokens_per_call", scale: "linear" },
  latency_geomean_ms: { source: LOG_LATENCY_SOURCE, scale: "log" },
  latency_p95_ms: { source: P95_EXCEEDANCE_SOURCE, scale: "linear" },
  cost_usd_per_run: { source: "cost_usd_per_run", scale: "linear", perRun: true },
  latency_ms_per_run: { source: "latency_ms_per_run", scale: "linear", perRun: true },
};
const P95 = "latency_p95_ms";

/** Built-in guardrail metric names (the report's names, as in metrics.ts). */
export const GUARDRAIL_BUILT_INS: readonly string[] = Object.keys(BUILT_IN);
export const isGuardrailBuiltIn = (name: string) => Object.hasOwn(BUILT_IN, name);
/** Whether a built-in needs per-run aggregates (reported for session units or system scope). */
export const isPerRunBuiltIn = (name: string) => BUILT_IN[name]?.perRun === true;

export type LimitKind = "no_worse" | "max_increase" | "max_decrease" | "max" | "min";
export type Limit = { kind: LimitKind; value: number; relative: boolean };
export type GuardrailStatus = "ok" | "breach" | "insufficient";

export type GuardrailResult = {
  /** As configured. */
  metric: string;
  /** The report metric it was judged on (or `arms.latency_p95_ms`). */
  source: string;
  arm: string;
  limit: Limit;
  status: GuardrailStatus;
  /** Treatment − control (lift for relative limits), or the arm's value for max/min. */
  observed: number | null;
  /** The always-valid interval the rule used, on the limit's scale; null for max/min. */
  interval: Interval | null;
  /** Two-sided level of that interval: guardrail_alpha/(G·K). */
  alpha: number | null;
  units: { control: number | null; treatment: number };
  /** One sentence a person can act on. */
  evidence: string;
};

export type GuardrailCheck = {
  status: GuardrailStatus;
  alpha: number;
  /** G·K: comparison guardrails × treatment arms, the Bonferroni divisor. */
  comparisons: number;
  srm_flagged: boolean;
  breaches: GuardrailResult[];
  results: GuardrailResult[];
};

/** What the decision needs from a report (tests build these from the compare functions). */
export type GuardrailReport = Pick<Report, "arms" | "metrics" | "srm">;

export type EvaluateOptions = {
  /** The experiment's guardrail_alpha. */
  alpha: number;
  /** N* of the confidence sequences; fixed for an experiment's life. */
  tuningN?: number;
};

/** The comparison limit of a guardrail, or null when it only has an SLO (max/min). */
export function comparisonLimit(g: GuardrailSpec): Limit | null {
  if (g.max_increase !== undefined)
    return { kind: "max_increase", value: g.max_increase, relative: g.relative ?? false };
  if (g.max_decrease !== undefined)
    return { kind: "max_decrease", value: g.max_decrease, relative: g.relative ?? false };
  if (g.max === undefined && g.min === undefined) return { kind: "no_worse", value: 0, relative: false };
  return null;
}

/**
 * Why a guardrail cannot work for a metric of this direction, as [field, message]; null if fine.
 * `perRunAvailable`: the experiment reports per-run metrics (session units or system scope).
 */
export function guardrailProblem(
  g: GuardrailSpec,
  direction: Direction,
  perRunAvailable: boolean,
): [field: string, message: string] | null {
  if (isPerRunBuiltIn(g.metric) && !perRunAvailable)
    return [
      "metric",
      `'${g.metric}' is reported only for workflow runs (unit 'session' or a system-scoped experiment); use the per-call metric`,
    ];
  if (g.metric === P95 && (g.max_increase !== undefined || g.max_decrease !== undefined))
    return [
      g.max_increase !== undefined ? "max_increase" : "max_decrease",
      "latency_p95_ms takes max (an SLO in ms) or no limit (no worse than the control); for a margin on latency use latency_geomean_ms (relative: true for a percentage)",
    ];
  const better = direction === "lower" ? "lower" : "higher";
  if (direction === "lower" && g.max_decrease !== undefined)
    return [
      "max_decrease",
      `'${g.metric}' is lower-is-better, so a decrease is an improvement; limit the increase with max_increase`,
    ];
  if (direction === "higher" && g.max_increase !== undefined)
    return [
      "max_increase",
      `'${g.metric}' is higher-is-better, so an increase is an improvement; limit the decrease with max_decrease`,
    ];
  if (direction === "lower" && g.min !== undefined)
    return ["min", `'${g.metric}' is ${better}-is-better; an SLO on it is a ceiling: use max`];
  if (direction === "higher" && g.max !== undefined)
    return ["max", `'${g.metric}' is ${better}-is-better; an SLO on it is a floor: use min`];
  return null;
}

const sig = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));
const signed = (x: number) => (x > 0 ? `+${sig(x)}` : sig(x));
const pct = (x: number) => `${x > 0 ? "+" : ""}${Number((x * 100).toPrecision(3))}%`;

function describeLimit(l: Limit, direction: Direction): string {
  const fmt = (v: number) => (l.relative ? pct(v) : sig(v));
  switch (l.kind) {
    case "no_worse":
      return `no worse than control (${direction}-is-better)`;
    case "max_increase":
      return `max increase ${fmt(l.value)}`;
    case "max_decrease":
      return `max decrease ${fmt(l.value)}`;
    case "max":
      return `max ${sig(l.value)}`;
    case "min":
      return `min ${sig(l.value)}`;
  }
}

export function evaluateGuardrails(
  report: GuardrailReport,
  guardrails: readonly GuardrailSpec[],
  opts: EvaluateOptions,
): GuardrailCheck {
  const tuningN = opts.tuningN ?? DEFAULT_TUNING_N;
  const control = report.arms[0];
  const treatments = report.arms.slice(1);
  const g = guardrails.filter((x) => comparisonLimit(x) !== null).length;
  const comparisons = g * Math.max(1, treatments.length);
  const perComparison = comparisons > 0 ? opts.alpha / comparisons : opts.alpha;
  const results: GuardrailResult[] = [];
  if (control) {
    for (const spec of guardrails) {
      const limit = comparisonLimit(spec);
      for (const arm of treatments) {
        if (limit) results.push(compare(report, spec, limit, arm.name, perComparison, tuningN));
        if (spec.max !== undefined || spec.min !== undefined) results.push(slo(report, spec, arm.name));
      }
    }
  }
  const breaches = results.filter((r) => r.status === "breach");
  const status: GuardrailStatus =
    breaches.length > 0 ? "breach" : results.some((r) => r.status === "insufficient") ? "insufficient" : "ok";
  return {
    status,
    alpha: opts.alpha,
    comparisons,
    srm_flagged: report.srm?.flagged ?? false,
    breaches,
    results,
  };
}

function sourceOf(metric: string): { source: string; scale: "linear" | "log" } {
  const b = BUILT_IN[metric];
  return b ? { source: b.source, scale: b.scale } : { source: metric, scale: "linear" };
}

function compare(
  report: GuardrailReport,
  spec: GuardrailSpec,
  limit: Limit,
  arm: string,
  alpha: number,
  tuningN: number,
): GuardrailResult {
  const { source, scale } = sourceOf(spec.metric);
  const minUnits = spec.min_units ?? 100;
  const metric: MetricResult | undefined = report.metrics.find((m) => m.name === source);
  const direction: Direction = metric?.direction ?? "lower";
  const controlName = report.arms[0]?.name as string;
  const cUnits = metric?.arms.find((a) => a.arm === controlName)?.n ?? 0;
  const tUnits = metric?.arms.find((a) => a.arm === arm)?.n ?? 0;
  const base = {
    metric: spec.metric,
    source,
    arm,
    limit,
    observed: null,
    interval: null,
    alpha,
    units: { control: cUnits, treatment: tUnits },
  };
  const what = `${spec.metric} of arm '${arm}'`;
  if (!metric) return { ...base, status: "insufficient", evidence: `${what}: no data yet` };
  if (cUnits < minUnits || tUnits < minUnits)
    return {
      ...base,
      status: "insufficient",
      evidence: `${what}: ${tUnits} units vs ${cUnits} in control, needs ${minUnits} in each`,
    };
  const cmp: Comparison | undefined = metric.comparisons.find((c) => c.arm === arm);
  if (!cmp || !(cmp.se >= 0) || !(cmp.n >= 1))
    return { ...base, status: "insufficient", evidence: `${what}: not comparable with the control yet` };

  const cs = (estimate: number, se: number) =>
    confidenceSequence({ estimate, se, n: cmp.n, alpha, tuningN }).ci;
  let observed: number;
  let interval: Interval;
  let scaleNote = "treatment − control";
  if (scale === "log") {
    // Differences of mean log latency: exp − 1 is the ratio of geometric means minus one.
    const [lo, hi] = cs(cmp.diff, cmp.se);
    if (limit.relative) {
      observed = Math.expm1(cmp.diff);
      interval = [Math.expm1(lo), Math.expm1(hi)];
      scaleNote = "geometric-mean ratio − 1";
    } else {
      const gC = Math.exp(metric.arms.find((a) => a.arm === controlName)?.estimate ?? 0);
      observed = gC * Math.expm1(cmp.diff);
      interval = [gC * Math.expm1(lo), gC * Math.expm1(hi)];
      scaleNote = "treatment − control geometric mean, ms";
    }
  } else if (limit.relative && cmp.lift !== null && cmp.lift_se !== null) {
    observed = cmp.lift;
    interval = cs(cmp.lift, cmp.lift_se);
    scaleNote = "(treatment − control)/control";
  } else {
    observed = cmp.diff;
    interval = cs(cmp.diff, cmp.se);
    if (limit.relative) scaleNote = "treatment − control (control is 0: the relative margin is 0)";
  }
  // A relative margin with no lift (control value 0) shrinks to 0 on the difference.
  const margin = limit.relative && scale === "linear" && cmp.lift === null ? 0 : limit.value;
  const worseIsUp = limit.kind === "max_increase" || (limit.kind === "no_worse" && direction === "lower");
  const breach = worseIsUp ? interval[0] > margin : interval[1] < -margin;
  const fmt = (v: number) => (limit.relative ? pct(v) : signed(v));
  const level = `${Number(((1 - alpha) * 100).toPrecision(4))}%`;
  const evidence = breach
    ? `${what} is worse than control '${controlName}' beyond the limit (${describeLimit(limit, direction)}): ${scaleNote} = ${fmt(observed)}, always-valid ${level} interval [${fmt(interval[0])}, ${fmt(interval[1])}] lies wholly ${worseIsUp ? "above" : "below"} ${worseIsUp ? fmt(margin) : fmt(-margin)} (units ${tUnits} vs ${cUnits})`
    : `${what}: ${scaleNote} = ${fmt(observed)}, interval [${fmt(interval[0])}, ${fmt(interval[1])}] within ${describeLimit(limit, direction)}`;
  return { ...base, observed, interval, status: breach ? "breach" : "ok", evidence };
}

function slo(report: GuardrailReport, spec: GuardrailSpec, arm: string): GuardrailResult {
  const minUnits = spec.min_units ?? 100;
  const limit: Limit =
    spec.max !== undefined
      ? { kind: "max", value: spec.max, relative: false }
      : { kind: "min", value: spec.min as number, relative: false };
  let source: string;
  let value: number | null;
  let units: number;
  const what = `${spec.metric} of arm '${arm}'`;
  if (spec.metric === P95) {
    source = "arms.latency_p95_ms";
    const a = report.arms.find((x) => x.name === arm);
    value = a?.latency_p95_ms ?? null;
    units = a?.units ?? 0;
  } else {
    const { source: s, scale } = sourceOf(spec.metric);
    source = s;
    const v = report.metrics.find((m) => m.name === s)?.arms.find((x) => x.arm === arm);
    units = v?.n ?? 0;
    value = v?.estimate ?? null;
    if (value !== null && scale === "log") value = Math.exp(value);
  }
  const base = { metric: spec.metric, source, arm, limit, interval: null, alpha: null };
  if (value === null || units < minUnits)
    return {
      ...base,
      observed: value,
      units: { control: null, treatment: units },
      status: "insufficient",
      evidence: `${what}: ${units} units, needs ${minUnits}`,
    };
  const breach = limit.kind === "max" ? value > limit.value : value < limit.value;
  return {
    ...base,
    observed: value,
    units: { control: null, treatment: units },
    status: breach ? "breach" : "ok",
    evidence: breach
      ? `${what} is ${sig(value)}, ${limit.kind === "max" ? "above its max" : "below its min"} ${sig(limit.value)} (${units} units)`
      : `${what} is ${sig(value)}, within ${limit.kind} ${sig(limit.value)}`,
  };
}
