/**
 * Relative lift (T − C)/C with a delta-method variance (notes §5.4; GrowthBook details.mdx):
 *
 *   Δ̂_r = μ̂_T/μ̂_C − 1
 *   Var(Δ̂_r) = σ̂²_C·μ̂²_T/(μ̂⁴_C·n_C) + σ̂²_T/(μ̂²_C·n_T)
 *
 * Written here in terms of the variance of each arm's estimate, V = σ̂²/n, so the same formula
 * serves means (V = s²/n), proportions (V = p(1−p)/n) and ratio metrics (V = delta-method
 * Var(R̂), which is what "substitute n·Var(R̂) for σ̂²" in §5.4 amounts to):
 *
 *   Var(Δ̂_r) = V_C·μ̂²_T/μ̂⁴_C + V_T/μ̂²_C
 *
 * Inference is normal (z), as the delta method is asymptotic. The lift is undefined when the
 * control mean is 0; that throws.
 */
import type { Proportion } from "./proportions.js";
import { ratioEstimate } from "./ratio.js";
import { type MeanSummary, mean, type RatioSummary, sampleVariance } from "./summary.js";
import { assertAlpha, DEFAULT_ALPHA, type Interval, twoSidedNormalP, zCritical, zStatistic } from "./util.js";

/** An arm's point estimate and the variance of that estimate (not the per-unit variance). */
export interface ArmEstimate {
  estimate: number;
  variance: number;
}

export interface LiftResult {
  /** (treatment − control)/control; 0.05 means +5%. */
  lift: number;
  se: number;
  ci: Interval;
  z: number;
  p: number;
}

export function meanArmEstimate(s: MeanSummary): ArmEstimate {
  return { estimate: mean(s), variance: sampleVariance(s) / s.n };
}

/** p̂ and p̂(1−p̂)/n, the binary-metric variance of notes §5.3a. */
export function proportionArmEstimate(p: Proportion): ArmEstimate {
  if (
    !Number.isInteger(p.n) ||
    p.n < 1 ||
    !Number.isInteger(p.successes) ||
    p.successes < 0 ||
    p.successes > p.n
  ) {
    throw new RangeError(`invalid proportion ${p.successes}/${p.n}`);
  }
  const rate = p.successes / p.n;
  return { estimate: rate, variance: (rate * (1 - rate)) / p.n };
}

export function ratioArmEstimate(s: RatioSummary): ArmEstimate {
  const r = ratioEstimate(s);
  return { estimate: r.ratio, variance: r.variance };
}

export function relativeLift(
  control: ArmEstimate,
  treatment: ArmEstimate,
  alpha = DEFAULT_ALPHA,
): LiftResult {
  assertAlpha(alpha);
  const muC = control.estimate;
  const muT = treatment.estimate;
  if (muC === 0 || !Number.isFinite(muC)) throw new RangeError("relative lift: the control estimate is 0");
  if (!(control.variance >= 0 && treatment.variance >= 0)) throw new RangeError("variances must be ≥ 0");
  const lift = muT / muC - 1;
  const variance = (control.variance * muT * muT) / muC ** 4 + treatment.variance / (muC * muC);
  const se = Math.sqrt(variance);
  const z = zStatistic(lift, se);
  const half = zCritical(alpha) * se;
  return { lift, se, ci: [lift - half, lift + half], z, p: twoSidedNormalP(z) };
}

export function relativeLiftMeans(
  control: MeanSummary,
  treatment: MeanSummary,
  alpha = DEFAULT_ALPHA,
): LiftResult {
  return relativeLift(meanArmEstimate(control), meanArmEstimate(treatment), alpha);
}

export function relativeLiftProportions(
  control: Proportion,
  treatment: Proportion,
  alpha = DEFAULT_ALPHA,
): LiftResult {
  return relativeLift(proportionArmEstimate(control), proportionArmEstimate(treatment), alpha);
}

export function relativeLiftRatios(
  control: RatioSummary,
  treatment: RatioSummary,
  alpha = DEFAULT_ALPHA,
): LiftResult {
  return relativeLift(ratioArmEstimate(control), ratioArmEstimate(treatment), alpha);
}
