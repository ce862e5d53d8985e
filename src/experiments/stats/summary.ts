/**
 * Sufficient statistics an arm keeps per metric (DESIGN.md, Statistics: "Statistics from
 * sufficient statistics"). Every test in this directory takes these, never raw events, so a
 * report costs the same at 100 or 100 million events, and two partial aggregates (two replicas,
 * two days) merge by addition.
 *
 * Variances use the sample (n − 1) denominator, as GrowthBook's gbstats does and as
 * scipy's `ttest_ind` does. The sum/sum-of-squares form loses relative precision when
 * mean² ≫ variance (cancellation ~ 1e-16·mean²/variance); for the metrics kept here (scores,
 * rates, costs, log-latency) that is far below the 1e-6 the golden tests demand.
 */
import { assertCount, assertFinite } from "./util.js";

/** Per-unit metric: n units, Σx and Σx². A binary metric is the special case x ∈ {0, 1}. */
export interface MeanSummary {
  readonly n: number;
  readonly sum: number;
  readonly sumSq: number;
}

/**
 * Ratio metric with per-unit numerator M and denominator D, e.g. cost (M) over calls (D) for
 * each session when sessions are randomized (notes §5.3d/e; GrowthBook details.mdx, "Ratio
 * metrics"). The cross-product ΣMD is what the delta method needs for Cov(M, D).
 */
export interface RatioSummary {
  readonly n: number;
  readonly sumM: number;
  readonly sumM2: number;
  readonly sumD: number;
  readonly sumD2: number;
  readonly sumMD: number;
}

export const EMPTY_MEAN: MeanSummary = Object.freeze({ n: 0, sum: 0, sumSq: 0 });
export const EMPTY_RATIO: RatioSummary = Object.freeze({
  n: 0,
  sumM: 0,
  sumM2: 0,
  sumD: 0,
  sumD2: 0,
  sumMD: 0,
});

export function summarize(values: readonly number[]): MeanSummary {
  let sum = 0;
  let sumSq = 0;
  for (const x of values) {
    assertFinite(x, "value");
    sum += x;
    sumSq += x * x;
  }
  return { n: values.length, sum, sumSq };
}

/** A binary metric from counts: Σx = Σx² = successes. */
export function summarizeBinary(successes: number, n: number): MeanSummary {
  assertCount(n, "n");
  assertCount(successes, "successes");
  if (successes > n) throw new RangeError(`successes (${successes}) exceed n (${n})`);
  return { n, sum: successes, sumSq: successes };
}

export function summarizeRatio(numerators: readonly number[], denominators: readonly number[]): RatioSummary {
  if (numerators.length !== denominators.length) {
    throw new RangeError(
      `numerators (${numerators.length}) and denominators (${denominators.length}) differ`,
    );
  }
  let sumM = 0;
  let sumM2 = 0;
  let sumD = 0;
  let sumD2 = 0;
  let sumMD = 0;
  for (let i = 0; i < numerators.length; i++) {
    const m = numerators[i] as number;
    const d = denominators[i] as number;
    assertFinite(m, "numerator");
    assertFinite(d, "denominator");
    sumM += m;
    sumM2 += m * m;
    sumD += d;
    sumD2 += d * d;
    sumMD += m * d;
  }
  return { n: numerators.length, sumM, sumM2, sumD, sumD2, sumMD };
}

export function mergeMean(...parts: readonly MeanSummary[]): MeanSummary {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (const p of parts) {
    n += p.n;
    sum += p.sum;
    sumSq += p.sumSq;
  }
  return { n, sum, sumSq };
}

export function mergeRatio(...parts: readonly RatioSummary[]): RatioSummary {
  const out = { ...EMPTY_RATIO };
  for (const p of parts) {
    out.n += p.n;
    out.sumM += p.sumM;
    out.sumM2 += p.sumM2;
    out.sumD += p.sumD;
    out.sumD2 += p.sumD2;
    out.sumMD += p.sumMD;
  }
  return out;
}

export function checkMeanSummary(s: MeanSummary, minN: number): void {
  assertCount(s.n, "n", minN);
  assertFinite(s.sum, "sum");
  assertFinite(s.sumSq, "sumSq");
}

export function checkRatioSummary(s: RatioSummary, minN: number): void {
  assertCount(s.n, "n", minN);
  for (const k of ["sumM", "sumM2", "sumD", "sumD2", "sumMD"] as const) assertFinite(s[k], k);
}

export function mean(s: MeanSummary): number {
  checkMeanSummary(s, 1);
  return s.sum / s.n;
}

/** Sample variance (n − 1 denominator), clamped at 0 against rounding. */
export function sampleVariance(s: MeanSummary): number {
  checkMeanSummary(s, 2);
  return Math.max(0, (s.sumSq - (s.sum * s.sum) / s.n) / (s.n - 1));
}

/** Means, sample variances and sample covariance of (M, D), all with the n − 1 denominator. */
export interface RatioMoments {
  meanM: number;
  meanD: number;
  varM: number;
  varD: number;
  covMD: number;
}

export function ratioMoments(s: RatioSummary): RatioMoments {
  checkRatioSummary(s, 2);
  const { n } = s;
  return {
    meanM: s.sumM / n,
    meanD: s.sumD / n,
    varM: Math.max(0, (s.sumM2 - (s.sumM * s.sumM) / n) / (n - 1)),
    varD: Math.max(0, (s.sumD2 - (s.sumD * s.sumD) / n) / (n - 1)),
    covMD: (s.sumMD - (s.sumM * s.sumD) / n) / (n - 1),
  };
}
