/**
 * Welch's unequal-variance t-test from per-arm summaries (notes §5.3b and §5.6; GrowthBook
 * details.mdx uses the t distribution with Welch–Satterthwaite df). Matches
 * `scipy.stats.ttest_ind(treatment, control, equal_var=False)`: statistic, pvalue, df and
 * `confidence_interval(1 − α)`.
 *
 * Fixed-horizon: valid if you look once. Peeking decisions use sequential.ts.
 */
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import { type MeanSummary, mean, sampleVariance } from "./summary.js";
import { assertAlpha, DEFAULT_ALPHA, type Interval, zStatistic } from "./util.js";

export interface WelchResult {
  meanControl: number;
  meanTreatment: number;
  /** meanTreatment − meanControl */
  diff: number;
  /** √(s²_C/n_C + s²_T/n_T) */
  se: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  t: number;
  /** Two-sided p = 2·F_t(−|t|; df). */
  p: number;
  /** diff ± F_t⁻¹(1 − α/2; df)·se */
  ci: Interval;
}

/**
 * Needs n ≥ 2 in each arm (a sample variance). When both arms have zero variance the t
 * statistic is undefined (scipy returns NaN); here df falls back to n_C + n_T − 2, t is 0 or ±∞
 * and the interval collapses to the difference, so callers can compare without NaN checks.
 */
export function welchTest(control: MeanSummary, treatment: MeanSummary, alpha = DEFAULT_ALPHA): WelchResult {
  assertAlpha(alpha);
  const vC = sampleVariance(control) / control.n;
  const vT = sampleVariance(treatment) / treatment.n;
  const meanControl = mean(control);
  const meanTreatment = mean(treatment);
  const diff = meanTreatment - meanControl;
  const se = Math.sqrt(vC + vT);
  // Welch–Satterthwaite: ν = (v_C + v_T)² / (v_C²/(n_C − 1) + v_T²/(n_T − 1)).
  const df =
    se > 0
      ? (vC + vT) ** 2 / ((vC * vC) / (control.n - 1) + (vT * vT) / (treatment.n - 1))
      : control.n + treatment.n - 2;
  const t = zStatistic(diff, se);
  const p = Number.isFinite(t) ? Math.min(1, 2 * tCdf(-Math.abs(t), df)) : 0;
  const half = tQuantile(1 - alpha / 2, df) * se;
  return { meanControl, meanTreatment, diff, se, df, t, p, ci: [diff - half, diff + half] };
}
