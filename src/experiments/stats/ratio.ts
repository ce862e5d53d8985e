/**
 * Ratio metrics and the delta method (notes §5.3e; GrowthBook details.mdx, "Ratio metrics").
 *
 * Under session randomization, per-call metrics (cost per call, tokens per call, per-call
 * success) are ratios of per-session sums: R̂ = ΣM_i / ΣD_i. The calls of one session are
 * correlated, so treating calls as independent understates the variance; the delta method keeps
 * the session as the unit:
 *
 *   Var(R̂) = 1/(n·μ̂_D²) · ( σ̂²_M − 2·R̂·σ̂_MD + R̂²·σ̂²_D )
 *
 * with sample (n − 1) moments. Equivalently Var(R̂) = Var(M − R̂·D)/(n·μ̂_D²), the variance of
 * the linearised per-unit residual — the form the Python reference uses, so the golden test
 * compares two different computations of the same quantity.
 */
import { type RatioSummary, ratioMoments } from "./summary.js";
import { assertAlpha, DEFAULT_ALPHA, type Interval, twoSidedNormalP, zCritical, zStatistic } from "./util.js";

export interface RatioEstimate {
  /** ΣM / ΣD */
  ratio: number;
  /** Delta-method variance of the ratio estimate. */
  variance: number;
  se: number;
  n: number;
}

/** Needs n ≥ 2 and ΣD ≠ 0 (a session with no calls carries no per-call information). */
export function ratioEstimate(s: RatioSummary): RatioEstimate {
  const m = ratioMoments(s);
  if (m.meanD === 0) throw new RangeError("ratio metric: the denominator sums to 0");
  const ratio = m.meanM / m.meanD;
  const inner = m.varM - 2 * ratio * m.covMD + ratio * ratio * m.varD;
  // The bracket is a variance (of M − R·D); clamp the rounding residue when it is ~0.
  const variance = Math.max(0, inner) / (s.n * m.meanD * m.meanD);
  return { ratio, variance, se: Math.sqrt(variance), n: s.n };
}

export interface RatioDifferenceResult {
  ratioControl: number;
  ratioTreatment: number;
  /** ratioTreatment − ratioControl */
  diff: number;
  se: number;
  ci: Interval;
  z: number;
  p: number;
}

/**
 * Absolute difference of two independent ratio estimates, z-test and normal CI. The normal
 * (not t) reference distribution is used because the delta method is itself asymptotic.
 */
export function ratioDifference(
  control: RatioSummary,
  treatment: RatioSummary,
  alpha = DEFAULT_ALPHA,
): RatioDifferenceResult {
  assertAlpha(alpha);
  const c = ratioEstimate(control);
  const t = ratioEstimate(treatment);
  const diff = t.ratio - c.ratio;
  const se = Math.sqrt(c.variance + t.variance);
  const z = zStatistic(diff, se);
  const half = zCritical(alpha) * se;
  return {
    ratioControl: c.ratio,
    ratioTreatment: t.ratio,
    diff,
    se,
    ci: [diff - half, diff + half],
    z,
    p: twoSidedNormalP(z),
  };
}
