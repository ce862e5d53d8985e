/**
 * Sample ratio mismatch: are the units per arm consistent with the configured weights?
 * A mismatch means assignment or exposure logging is broken, so every other result of the
 * experiment is suspect; DESIGN.md: "flagged at p < 0.001; it blocks promotion".
 */
import gammaln from "@stdlib/math-base-special-gammaln";
import chisquareCdf from "@stdlib/stats-base-dists-chisquare-cdf";
import { assertCount } from "./util.js";

/**
 * GrowthBook's threshold (srm.mdx): at α = 0.05 about half of SRM alarms would be false
 * discoveries, at 0.001 about 2% (notes §5.2).
 */
export const SRM_THRESHOLD = 0.001;

function checkArms(counts: readonly number[], weights: readonly number[]): number[] {
  if (counts.length < 2) throw new RangeError("SRM needs at least two arms");
  if (counts.length !== weights.length) {
    throw new RangeError(`counts (${counts.length}) and weights (${weights.length}) differ in length`);
  }
  for (const c of counts) assertCount(c, "count");
  for (const w of weights) {
    // A zero-weight arm is not part of the allocation; the caller leaves it out.
    if (!(w > 0 && Number.isFinite(w))) throw new RangeError(`weights must be finite and > 0, got ${w}`);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

export interface SrmResult {
  chi2: number;
  df: number;
  p: number;
  /** p < threshold */
  flagged: boolean;
  /** Expected count per arm, N·w_k with weights normalised to sum to 1. */
  expected: number[];
}

/**
 * Chi-squared goodness of fit (notes §5.2; GrowthBook srm.mdx):
 *   χ² = Σ_k (n_k − N·w_k)²/(N·w_k),  df = K − 1,  p = 1 − F_χ²(χ²; K − 1).
 * Matches `scipy.stats.chisquare(counts, f_exp=N·w)`. Weights need not sum to 1. With N = 0
 * there is no evidence: χ² = 0, p = 1. p is computed as 1 − CDF, exact to ~1e-16 absolute,
 * which is all a comparison against 0.001 needs.
 * Fixed-horizon; for a check repeated daily use `sequentialSrm`.
 */
export function srmCheck(
  counts: readonly number[],
  weights: readonly number[],
  threshold = SRM_THRESHOLD,
): SrmResult {
  const probs = checkArms(counts, weights);
  const total = counts.reduce((a, b) => a + b, 0);
  const df = counts.length - 1;
  const expected = probs.map((p) => total * p);
  if (total === 0) return { chi2: 0, df, p: 1, flagged: false, expected };
  let chi2 = 0;
  counts.forEach((c, k) => {
    const e = expected[k] as number;
    chi2 += ((c - e) * (c - e)) / e;
  });
  const p = Math.max(0, 1 - chisquareCdf(chi2, df));
  return { chi2, df, p, flagged: p < threshold, expected };
}

export interface SequentialSrmOptions {
  /** Dirichlet concentration c of the alternative, prior α_k = c·w_k (GrowthBook default 10,000). */
  concentration?: number;
  /** The p-value reported at the previous look (running minimum); 1 at the first look. */
  previousP?: number;
  threshold?: number;
}

export interface SequentialSrmResult {
  /** ln BF of "proportions drawn around w" (Dirichlet-multinomial) against "exactly w" (multinomial). */
  logBayesFactor: number;
  /** Anytime-valid p: min(previousP, 1/BF), capped at 1. */
  p: number;
  flagged: boolean;
}

/** ln B(a) = Σ ln Γ(a_k) − ln Γ(Σ a_k), the log multivariate Beta function. */
function logMultiBeta(a: readonly number[]): number {
  let s = 0;
  let sum = 0;
  for (const x of a) {
    s += gammaln(x);
    sum += x;
  }
  return s - gammaln(sum);
}

/**
 * Sequential SRM (Lindon, Semmens & Gotwalt 2022; GrowthBook srm.mdx and gbstats ssrm.py), for
 * a check repeated at every look. With cumulative counts S and prior α = c·w:
 *   BF = B(α + S) / ( B(α)·Π_k w_k^{S_k} ),   p = min(1, min over looks of 1/BF).
 * Because the Dirichlet-multinomial is conjugate, the product of per-look Bayes factors
 * collapses to this closed form on the cumulative counts (the multinomial coefficients cancel),
 * so only the totals and the previous p need to be kept. Computed in log space with lgamma.
 */
export function sequentialSrm(
  counts: readonly number[],
  weights: readonly number[],
  options: SequentialSrmOptions = {},
): SequentialSrmResult {
  const probs = checkArms(counts, weights);
  const c = options.concentration ?? 10_000;
  const previousP = options.previousP ?? 1;
  const threshold = options.threshold ?? SRM_THRESHOLD;
  if (!(c > 0)) throw new RangeError(`concentration must be > 0, got ${c}`);
  if (!(previousP >= 0 && previousP <= 1))
    throw new RangeError(`previousP must be in [0, 1], got ${previousP}`);
  const prior = probs.map((w) => c * w);
  const posterior = prior.map((a, k) => a + (counts[k] as number));
  let logNull = 0;
  counts.forEach((s, k) => {
    if (s > 0) logNull += s * Math.log(probs[k] as number);
  });
  const logBayesFactor = logMultiBeta(posterior) - logMultiBeta(prior) - logNull;
  const p = Math.min(previousP, 1, Math.exp(-logBayesFactor));
  return { logBayesFactor, p, flagged: p < threshold };
}
