/**
 * Power, sample size and minimum detectable effect for a two-arm comparison with equal
 * allocation and a two-sided normal test (notes §5.11; GrowthBook power-technical.mdx).
 *
 * Power uses both rejection tails, as GrowthBook and statsmodels do:
 *   π(δ) = 1 − Φ(z_{1−α/2} − δ/σ_Δ) + Φ(−z_{1−α/2} − δ/σ_Δ),   σ_Δ² = (σ²_C + σ²_T)/n
 * and n and the MDE are the exact solutions of π = target (by bisection), not the one-tail
 * closed form n ≈ (z_{1−α/2} + z_π)²(σ²_C + σ²_T)/δ² of §5.11, which differs from them by
 * ~1e-6 relative at 80% power. The results match statsmodels
 *   NormalIndPower().solve_power(effect_size = δ/√((σ²_C + σ²_T)/2), alpha, power, ratio=1,
 *                                alternative="two-sided")
 * (its Cohen's-d effect size uses the average of the two variances).
 *
 * For a sequential design (sequential.ts), multiply σ_Δ by `csWidthRatio` at the planned N*.
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import { assertAlpha, DEFAULT_ALPHA, solveIncreasing, zCritical } from "./util.js";

export interface PowerOptions {
  alpha?: number;
  /** Target power, default 0.8. */
  power?: number;
}

function options(o: PowerOptions): { alpha: number; power: number } {
  const alpha = o.alpha ?? DEFAULT_ALPHA;
  const power = o.power ?? 0.8;
  assertAlpha(alpha);
  if (!(power > alpha / 2 && power < 1)) throw new RangeError(`power must be in (α/2, 1), got ${power}`);
  return { alpha, power };
}

function checkVariance(v: number, what: string): void {
  if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${what} must be finite and > 0, got ${v}`);
}

/** Two-sided power at standardized effect x = δ/σ_Δ. */
export function powerAt(standardizedEffect: number, alpha = DEFAULT_ALPHA): number {
  const z = zCritical(alpha);
  const x = Math.abs(standardizedEffect);
  return normalCdf(x - z, 0, 1) + normalCdf(-z - x, 0, 1);
}

/** The standardized effect δ/σ_Δ at which the two-sided test reaches the target power. */
function requiredStandardizedEffect(alpha: number, power: number): number {
  return solveIncreasing((x) => powerAt(x, alpha), power, 0, 40);
}

export interface MeanDesign extends PowerOptions {
  /** Per-unit variance of the metric in control. */
  varianceControl: number;
  /** Per-unit variance in treatment; default: the control variance. */
  varianceTreatment?: number;
}

export interface SampleSize {
  /** Exact (real-valued) units per arm. */
  exact: number;
  /** Units per arm to plan for: ⌈exact⌉. */
  perArm: number;
}

/** Units per arm to detect an absolute difference δ of a mean metric. */
export function sampleSizeMean(delta: number, design: MeanDesign): SampleSize {
  const { alpha, power } = options(design);
  const vC = design.varianceControl;
  const vT = design.varianceTreatment ?? vC;
  checkVariance(vC, "varianceControl");
  checkVariance(vT, "varianceTreatment");
  if (!(delta !== 0 && Number.isFinite(delta)))
    throw new RangeError(`delta must be finite and ≠ 0, got ${delta}`);
  const x = requiredStandardizedEffect(alpha, power);
  const exact = (x * x * (vC + vT)) / (delta * delta);
  return { exact, perArm: Math.ceil(exact - 1e-9 * exact) };
}

/** Smallest absolute difference detectable with n units per arm (a positive number). */
export function mdeMean(nPerArm: number, design: MeanDesign): number {
  const { alpha, power } = options(design);
  const vC = design.varianceControl;
  const vT = design.varianceTreatment ?? vC;
  checkVariance(vC, "varianceControl");
  checkVariance(vT, "varianceTreatment");
  if (!(nPerArm > 0 && Number.isFinite(nPerArm))) throw new RangeError(`nPerArm must be > 0, got ${nPerArm}`);
  return requiredStandardizedEffect(alpha, power) * Math.sqrt((vC + vT) / nPerArm);
}

function checkRate(p: number, what: string): void {
  if (!(p > 0 && p < 1)) throw new RangeError(`${what} must be in (0, 1), got ${p}`);
}

/**
 * Units per arm to detect a change of a rate from `baseline` to `target`, with the unpooled
 * variances p(1−p) of each arm (notes §5.3a/§5.11: 0.80 → 0.82 needs about 6,040 per arm).
 * This is NormalIndPower with effect size δ/√((p_C(1−p_C) + p_T(1−p_T))/2), not statsmodels'
 * arcsine `proportion_effectsize` (Cohen's h), which gives slightly different numbers.
 */
export function sampleSizeProportion(baseline: number, target: number, o: PowerOptions = {}): SampleSize {
  checkRate(baseline, "baseline");
  checkRate(target, "target");
  return sampleSizeMean(target - baseline, {
    ...o,
    varianceControl: baseline * (1 - baseline),
    varianceTreatment: target * (1 - target),
  });
}

/**
 * Smallest absolute change of a rate detectable with n units per arm, upwards (default) or
 * downwards from the baseline. The treatment variance moves with the effect, so this solves
 * δ/√((p(1−p) + (p+δ)(1−p−δ))/n) = x* for δ (the left side increases with δ on (0, 1 − p)).
 * null when even the largest possible change is not detectable at that n.
 */
export function mdeProportion(
  nPerArm: number,
  baseline: number,
  o: PowerOptions & { direction?: "up" | "down" } = {},
): number | null {
  const { alpha, power } = options(o);
  checkRate(baseline, "baseline");
  if (!(nPerArm > 0 && Number.isFinite(nPerArm))) throw new RangeError(`nPerArm must be > 0, got ${nPerArm}`);
  // Going down from p is going up from 1 − p: solve the "up" case on the mirrored rate.
  const p = o.direction === "down" ? 1 - baseline : baseline;
  const x = requiredStandardizedEffect(alpha, power);
  const vC = p * (1 - p);
  const standardized = (d: number) => d / Math.sqrt((vC + (p + d) * (1 - p - d)) / nPerArm);
  const maxDelta = 1 - p;
  if (standardized(maxDelta) < x) return null;
  return solveIncreasing(standardized, x, 0, maxDelta);
}
