/**
 * Latency: heavy-tailed, so report quantiles and compare log-latency means rather than raw
 * means (notes §5.3c, DESIGN.md Statistics).
 */
import { type MeanSummary, summarize } from "./summary.js";
import { DEFAULT_ALPHA, type Interval } from "./util.js";
import { type WelchResult, welchTest } from "./welch.js";

function sortedCopy(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError("quantile of an empty sample");
  for (const v of values) {
    if (Number.isNaN(v)) throw new RangeError("quantile of a sample containing NaN");
  }
  // A typed-array sort is numeric (Array.prototype.sort would compare strings).
  return Array.from(Float64Array.from(values).sort());
}

/**
 * Quantile of an ascending-sorted sample by linear interpolation between order statistics
 * (Hyndman & Fan type 7): h = (n − 1)·q, Q = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋).
 * This is numpy's default, `np.quantile(x, q)` with method="linear".
 */
function sortedQuantile(sorted: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile level must be in [0, 1], got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  if (lo + 1 >= sorted.length) return a;
  const b = sorted[lo + 1] as number;
  const t = h - lo;
  // numpy's _lerp: interpolate from the nearer end, so Q is exact at t = 1 and monotone in q.
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

export function quantile(values: readonly number[], q: number): number {
  return sortedQuantile(sortedCopy(values), q);
}

/** Several quantiles with one sort. */
export function quantiles(values: readonly number[], qs: readonly number[]): number[] {
  const sorted = sortedCopy(values);
  return qs.map((q) => sortedQuantile(sorted, q));
}

export function latencyPercentiles(values: readonly number[]): { p50: number; p95: number } {
  const [p50, p95] = quantiles(values, [0.5, 0.95]) as [number, number];
  return { p50, p95 };
}

/**
 * Sufficient statistics of ln(latency): the arm keeps {n, Σ ln x, Σ (ln x)²}. Latencies must be
 * > 0 (a 0 ms latency is a recording bug, not a fast call).
 */
export function summarizeLog(values: readonly number[]): MeanSummary {
  return summarize(
    values.map((v) => {
      if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`log-metric values must be > 0, got ${v}`);
      return Math.log(v);
    }),
  );
}

export interface LogRatioResult {
  /** e^Δ: ratio of geometric means treatment/control; 0.95 means 5% faster. */
  ratio: number;
  /** e^(CI of Δ) */
  ci: Interval;
  p: number;
  /** The Welch test on the log scale the ratio comes from. */
  welch: WelchResult;
}

/**
 * Welch's t-test on log values, reported on the original scale as the ratio of geometric means
 * e^Δ with CI e^(Δ ± t·se) (notes §5.3c: "analyse log(latency) with Welch, and report the ratio
 * e^Δ̂"). Equals `scipy.stats.ttest_ind(log T, log C, equal_var=False)` exponentiated.
 */
export function logRatio(
  controlLog: MeanSummary,
  treatmentLog: MeanSummary,
  alpha = DEFAULT_ALPHA,
): LogRatioResult {
  const welch = welchTest(controlLog, treatmentLog, alpha);
  return {
    ratio: Math.exp(welch.diff),
    ci: [Math.exp(welch.ci[0]), Math.exp(welch.ci[1])],
    p: welch.p,
    welch,
  };
}
