/**
 * Binary metrics (task success, schema-valid output, thumbs-up): notes §5.3a, GrowthBook
 * details.mdx. Arms are always given control first; differences are treatment − control.
 */
import { DEFAULT_ALPHA, type Interval, twoSidedNormalP, zCritical, zStatistic } from "./util.js";

export interface Proportion {
  successes: number;
  n: number;
}

function checkProportion(p: Proportion, what: string): void {
  if (!Number.isInteger(p.n) || p.n < 1) throw new RangeError(`${what}.n must be an integer ≥ 1, got ${p.n}`);
  if (!Number.isInteger(p.successes) || p.successes < 0 || p.successes > p.n) {
    throw new RangeError(`${what}.successes must be an integer in [0, n], got ${p.successes}`);
  }
}

export interface RateInterval {
  estimate: number;
  ci: Interval;
}

/**
 * Wilson score interval for one arm's rate. Unlike the Wald interval it stays inside [0, 1] and
 * keeps its coverage at small n and at rates near 0 or 1 (0 of 20 successes still gives a
 * non-degenerate interval). Same formula as statsmodels
 * `proportion_confint(count, nobs, alpha, method="wilson")`:
 *   centre = (p̂ + z²/2n) / (1 + z²/n),  half = z·√(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n).
 */
export function wilsonInterval(successes: number, n: number, alpha = DEFAULT_ALPHA): RateInterval {
  checkProportion({ successes, n }, "proportion");
  const z = zCritical(alpha);
  const z2 = z * z;
  const p = successes / n;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // At s = 0 (s = n) the lower (upper) bound is exactly 0 (1); the formula leaves a ±1e-17
  // rounding residue there, which would put a "0 of 20" interval above 0.
  const lower = successes === 0 ? 0 : Math.max(0, centre - half);
  const upper = successes === n ? 1 : Math.min(1, centre + half);
  return { estimate: p, ci: [lower, upper] };
}

/**
 * Which variance the z-test uses.
 * - "pooled" (default): Var = p̄(1−p̄)(1/n_C + 1/n_T) with p̄ the pooled rate, i.e. the variance
 *   under H₀: p_C = p_T. This is statsmodels' `proportions_ztest([s_T, s_C], [n_T, n_C])`.
 * - "unpooled": Var = p_C(1−p_C)/n_C + p_T(1−p_T)/n_T (GrowthBook details.mdx; notes §5.3a).
 *   This is statsmodels' `test_proportions_2indep(s_T, n_T, s_C, n_C, method="wald")`.
 * The interval is always the unpooled Wald interval (statsmodels
 * `confint_proportions_2indep(..., method="wald", compare="diff")`), because a CI is not
 * computed under H₀. With "pooled", p < α and "CI excludes 0" can disagree at the margin; with
 * "unpooled" they agree exactly.
 */
export type ProportionTestVariance = "pooled" | "unpooled";

export interface TwoProportionOptions {
  alpha?: number;
  test?: ProportionTestVariance;
}

export interface TwoProportionResult {
  rateControl: number;
  rateTreatment: number;
  /** rateTreatment − rateControl */
  diff: number;
  /** Unpooled standard error of diff (the one behind `ci`). */
  se: number;
  ci: Interval;
  /** Test statistic, using the variance named in `test`. */
  z: number;
  /** Two-sided p-value of z. */
  p: number;
  test: ProportionTestVariance;
}

/** Difference of two proportions with a two-sided z-test (notes §5.3a). */
export function twoProportions(
  control: Proportion,
  treatment: Proportion,
  options: TwoProportionOptions = {},
): TwoProportionResult {
  checkProportion(control, "control");
  checkProportion(treatment, "treatment");
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const test = options.test ?? "pooled";
  const pC = control.successes / control.n;
  const pT = treatment.successes / treatment.n;
  const diff = pT - pC;
  const se = Math.sqrt((pC * (1 - pC)) / control.n + (pT * (1 - pT)) / treatment.n);
  let testSe = se;
  if (test === "pooled") {
    const pooled = (control.successes + treatment.successes) / (control.n + treatment.n);
    testSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  }
  const z = zStatistic(diff, testSe);
  const half = zCritical(alpha) * se;
  return {
    rateControl: pC,
    rateTreatment: pT,
    diff,
    se,
    ci: [diff - half, diff + half],
    z,
    p: twoSidedNormalP(z),
    test,
  };
}
