/**
 * Multiple comparisons across (treatment arms × non-guardrail metrics): Holm–Bonferroni, which
 * controls the family-wise error rate under any dependence and is uniformly more powerful than
 * plain Bonferroni (notes §5.9; GrowthBook multiple-corrections.mdx corrects p-values, not CIs,
 * and leaves guardrail metrics out of the family).
 */

/**
 * Holm step-down adjusted p-values, returned in the input order. With p-values sorted
 * ascending p_(1) ≤ … ≤ p_(m):
 *   p̃_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j)).
 * Matches `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`. Ties get the same
 * adjusted value whatever their order, so the sort need not be stable. Reject H_i at level α
 * when p̃_i ≤ α.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  for (const p of pValues) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`p-values must be in [0, 1], got ${p}`);
  }
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, (m - rank) * p);
    adjusted[i] = Math.min(1, running);
  });
  return adjusted;
}

/** Which hypotheses Holm rejects at family-wise level α (p̃ ≤ α), in the input order. */
export function holmReject(pValues: readonly number[], alpha = 0.05): boolean[] {
  return holmAdjust(pValues).map((p) => p <= alpha);
}
