/**
 * Always-valid (anytime-valid) inference, for decisions taken while the experiment runs
 * (notes §5.7). A fixed-horizon test looked at repeatedly rejects a true null far more often
 * than α (the peeking problem, GrowthBook sequential.mdx); these two methods do not.
 *
 * Which one is used for what (DESIGN.md, Statistics):
 * - Confidence sequence (Option A) — intervals and decision gates: guardrail rollback ("the CS
 *   lower bound of T − C is above the tolerated margin") and promotion ("the CS excludes 0 in
 *   the good direction" / non-inferiority). It is what GrowthBook ships, it works for any
 *   asymptotically normal estimate (differences, ratios, lifts) and it gives an interval, which
 *   margins need.
 * - mSPRT p-value (Option B) — the "significant" badge only: one always-valid p-value per
 *   comparison, which Holm can then adjust across arms and metrics (multiple.ts).
 * With K treatment arms, run each CS at α/K (Bonferroni; notes §5.9).
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import { assertAlpha, DEFAULT_ALPHA, type Interval, zCritical } from "./util.js";

/** GrowthBook's default tuning sample size N* (power-technical.mdx). */
export const DEFAULT_TUNING_N = 5000;

function checkEstimate(estimate: number, se: number): void {
  if (!Number.isFinite(estimate)) throw new RangeError(`estimate must be finite, got ${estimate}`);
  if (!(se >= 0 && Number.isFinite(se))) throw new RangeError(`se must be finite and ≥ 0, got ${se}`);
}

/**
 * Mixing parameter of the asymptotic CS, chosen so the sequence is tightest at N = N*
 * (Waudby-Smith et al. 2023, arXiv:2103.06476 eq. 161, as used by GrowthBook):
 *   ρ = √( (−2 ln α + ln(−2 ln α + 1)) / N* )
 */
export function csRho(alpha: number, tuningN: number): number {
  assertAlpha(alpha);
  if (!(tuningN > 0 && Number.isFinite(tuningN))) throw new RangeError(`tuningN must be > 0, got ${tuningN}`);
  const l = -2 * Math.log(alpha);
  return Math.sqrt((l + Math.log(l + 1)) / tuningN);
}

export interface ConfidenceSequenceInput {
  /** The estimate, e.g. a difference T − C, a ratio difference or a lift. */
  estimate: number;
  /** Its (fixed-horizon) standard error. */
  se: number;
  /** Units so far across both arms (n_C + n_T). */
  n: number;
  alpha?: number;
  /** N*: where the sequence is tightest. Fix it when the experiment starts; never change it. */
  tuningN?: number;
}

export interface ConfidenceSequenceResult {
  estimate: number;
  halfWidth: number;
  ci: Interval;
  rho: number;
}

/**
 * Two-sided asymptotic confidence sequence (notes §5.7 Option A; GrowthBook
 * power-technical.mdx; Waudby-Smith et al. eq. 9):
 *   CS_N = Δ̂ ± σ̂·√( 2(Nρ² + 1)/(N²ρ²) · ln( √(Nρ² + 1)/α ) ),   σ̂ = se·√N
 * σ̂ is the per-unit standard deviation implied by the estimate's standard error over N units.
 * With probability ≥ 1 − α (asymptotically) the true effect lies in every CS_N at once, so it
 * may be checked at every look.
 */
export function confidenceSequence(input: ConfidenceSequenceInput): ConfidenceSequenceResult {
  const { estimate, se, n } = input;
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  checkEstimate(estimate, se);
  if (!(n >= 1 && Number.isFinite(n))) throw new RangeError(`n must be ≥ 1, got ${n}`);
  const rho = csRho(alpha, input.tuningN ?? DEFAULT_TUNING_N);
  const nr2 = n * rho * rho;
  const sigma = se * Math.sqrt(n);
  const halfWidth = sigma * Math.sqrt(((2 * (nr2 + 1)) / (n * nr2)) * Math.log(Math.sqrt(nr2 + 1) / alpha));
  return { estimate, halfWidth, ci: [estimate - halfWidth, estimate + halfWidth], rho };
}

/**
 * CS half-width over the fixed-horizon half-width z_{1−α/2}·se at N units: the factor by which
 * a sequential design widens intervals (≈1.55 at N = N*, α = 0.05; notes §5.7), and so the
 * factor by which σ_Δ is inflated when planning power for a sequential test (§5.11).
 */
export function csWidthRatio(n: number, tuningN = DEFAULT_TUNING_N, alpha = DEFAULT_ALPHA): number {
  const cs = confidenceSequence({ estimate: 0, se: 1, n, alpha, tuningN });
  return cs.halfWidth / zCritical(alpha);
}

export interface MsprtInput {
  /** The estimate Δ̂, e.g. mean(T) − mean(C). */
  estimate: number;
  /** s = its standard error (s² = Var(Δ̂) = σ²_C/n_C + σ²_T/n_T). */
  se: number;
  /** τ²: variance of the normal mixing distribution over the effect, on the estimate's scale. */
  tau2: number;
  /** θ₀, the null value (default 0). */
  theta0?: number;
}

/**
 * ln Λ of the normal-mixture SPRT (notes §5.7 Option B; Johari, Pekelis & Walsh, "Always
 * Valid Inference"; the s² form of frouros msprt.py's n-parametrised likelihood):
 *   Λ = √( s²/(s² + τ²) ) · exp( τ²(Δ̂ − θ₀)² / (2s²(s² + τ²)) )
 * In log space so large statistics do not overflow.
 */
export function msprtLogLikelihoodRatio(input: MsprtInput): number {
  const { estimate, se, tau2 } = input;
  const theta0 = input.theta0 ?? 0;
  checkEstimate(estimate, se);
  if (!(tau2 > 0 && Number.isFinite(tau2))) throw new RangeError(`tau2 must be > 0, got ${tau2}`);
  const d = estimate - theta0;
  const s2 = se * se;
  if (s2 === 0) return d === 0 ? 0 : Number.POSITIVE_INFINITY;
  return 0.5 * Math.log(s2 / (s2 + tau2)) + (tau2 * d * d) / (2 * s2 * (s2 + tau2));
}

/**
 * Always-valid p-value at this look: p_n = min(p_{n−1}, 1/Λ_n), capped at 1. The running
 * minimum is what makes it always valid; the caller stores the returned p and passes it as
 * `previousP` at the next look (1 at the first look). Reject H₀ when p ≤ α (Λ ≥ 1/α).
 */
export function msprtPValue(input: MsprtInput & { previousP?: number }): number {
  const previousP = input.previousP ?? 1;
  if (!(previousP >= 0 && previousP <= 1))
    throw new RangeError(`previousP must be in [0, 1], got ${previousP}`);
  return Math.min(previousP, 1, Math.exp(-msprtLogLikelihoodRatio(input)));
}

/**
 * The set of θ₀ not rejected at this look, from inverting Λ ≥ 1/α (notes §5.7):
 *   Δ̂ ± √( s²(s² + τ²)/τ² · (2 ln(1/α) + ln((s² + τ²)/s²)) )
 * Always valid as a sequence when intersected over looks; the engine's intervals come from
 * `confidenceSequence`, this is here for display next to the mSPRT p-value.
 */
export function msprtInterval(input: Omit<MsprtInput, "theta0"> & { alpha?: number }): Interval {
  const { estimate, se, tau2 } = input;
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  assertAlpha(alpha);
  checkEstimate(estimate, se);
  if (!(tau2 > 0 && Number.isFinite(tau2))) throw new RangeError(`tau2 must be > 0, got ${tau2}`);
  const s2 = se * se;
  if (s2 === 0) return [estimate, estimate];
  const half = Math.sqrt(
    ((s2 * (s2 + tau2)) / tau2) * (2 * Math.log(1 / alpha) + Math.log((s2 + tau2) / s2)),
  );
  return [estimate - half, estimate + half];
}

/**
 * Default τ² from the truncation heuristic of Johari et al. as implemented in frouros
 * (`mSPRT._calculate_tau_squared`), for a horizon of M observations of per-observation
 * variance σ² (for a two-arm difference with equal allocation: σ² = σ²_C + σ²_T, M = planned
 * units per arm):
 *   b = 2 ln(1/α) / √(M·σ²),   τ² = σ²·Φ(−b) / (φ(b)/b − Φ(−b))
 * Caveat: as printed, b is not scale-free (rescaling the metric changes τ²/σ²), so treat this
 * as a starting point; the other common choice is τ ≈ the minimum detectable effect. The
 * p-value stays valid for any fixed τ² — only power depends on it.
 */
export function msprtTau2(sigma2: number, horizon: number, alpha = DEFAULT_ALPHA): number {
  assertAlpha(alpha);
  if (!(sigma2 > 0 && Number.isFinite(sigma2))) throw new RangeError(`sigma2 must be > 0, got ${sigma2}`);
  if (!(horizon > 0 && Number.isFinite(horizon))) throw new RangeError(`horizon must be > 0, got ${horizon}`);
  const b = (2 * Math.log(1 / alpha)) / Math.sqrt(horizon * sigma2);
  const tail = normalCdf(-b, 0, 1);
  const density = Math.exp(-0.5 * b * b) / Math.sqrt(2 * Math.PI);
  return (sigma2 * tail) / (density / b - tail);
}
