/**
 * Small shared pieces of the statistics engine: argument checks, critical values and two-sided
 * p-values. Distribution functions come from @stdlib; nothing here re-implements one.
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";

/** A two-sided interval, lower bound first. A tuple so it serialises to JSON as `[lo, hi]`. */
export type Interval = [lower: number, upper: number];

export const DEFAULT_ALPHA = 0.05;

export function assertAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
}

export function assertFinite(x: number, what: string): void {
  if (!Number.isFinite(x)) throw new RangeError(`${what} must be a finite number, got ${x}`);
}

export function assertCount(n: number, what: string, min = 0): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${what} must be an integer ≥ ${min}, got ${n}`);
}

/** z_{1−α/2}: the two-sided normal critical value. */
export function zCritical(alpha: number): number {
  assertAlpha(alpha);
  return normalQuantile(1 - alpha / 2, 0, 1);
}

/**
 * Two-sided normal p-value 2·Φ(−|z|). Computed from the lower tail rather than as 1 − Φ(|z|) so
 * small p-values keep their relative precision (scipy: `2 * norm.sf(abs(z))`).
 */
export function twoSidedNormalP(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return Math.min(1, 2 * normalCdf(-Math.abs(z), 0, 1));
}

/**
 * z statistic with the degenerate case made explicit: a zero standard error with a zero
 * difference is "no evidence" (z = 0), with a non-zero difference it is certainty (z = ±∞).
 * scipy/statsmodels return NaN here; a decision engine needs a value it can compare.
 */
export function zStatistic(diff: number, se: number): number {
  if (se > 0) return diff / se;
  if (diff === 0) return 0;
  return diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}

/**
 * The smallest x in [lo, hi] with f(x) ≥ target for a non-decreasing f, by bisection to
 * machine precision. Used by the power solvers, where f is a power curve.
 */
export function solveIncreasing(f: (x: number) => number, target: number, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  for (let i = 0; i < 200 && b - a > 1e-15 * Math.max(1, Math.abs(b)); i++) {
    const mid = (a + b) / 2;
    if (f(mid) >= target) b = mid;
    else a = mid;
  }
  return (a + b) / 2;
}
