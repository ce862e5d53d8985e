/**
 * Ramps: the share of traffic the treatment arms get, step by step (e.g. 5% → 25% → 50%).
 *
 * At ramp step s (percent p_s) the control (the first arm) gets 100 − p_s percent of the units
 * and the treatment arms share p_s percent in proportion to their configured weights; the
 * control's configured weight is ignored while a ramp is set. Without a ramp (or before the
 * experiment has started) the configured weights apply, normalized.
 *
 * Because assignment takes the first arm whose cumulative weight exceeds the unit's bucket
 * (gateway/assignment.ts) and the control is first, raising the treatment share only moves units
 * out of the control. With one treatment arm a unit already in it stays there; with several, the
 * treatment intervals grow in proportion, so some units can move from one treatment arm to the
 * next — prefer one treatment arm per ramped experiment.
 *
 * Pure; the routing table and the report's sample-ratio check both use `effectiveWeights`, so the
 * split that is served is the split that is checked.
 */

export type Ramp = {
  /** Percent of traffic to the treatment arms at each step, strictly increasing, each in (0, 100]. */
  steps: number[];
  /** Minutes a step must run with every guardrail holding before the next step. */
  hold_minutes: number;
};

/** Clamps a stored step index into the ramp (a null step means the ramp has not started). */
export function rampPercent(ramp: Ramp | null | undefined, step: number | null | undefined): number | null {
  if (!ramp || ramp.steps.length === 0 || step === null || step === undefined) return null;
  const i = Math.min(Math.max(0, Math.trunc(step)), ramp.steps.length - 1);
  return ramp.steps[i] ?? null;
}

/**
 * The normalized weights traffic is split with. `weights` are the arms' configured weights in
 * arm order (control first).
 */
export function effectiveWeights(
  weights: readonly number[],
  ramp: Ramp | null | undefined,
  step: number | null | undefined,
): number[] {
  const total = weights.reduce((s, w) => s + w, 0);
  const percent = rampPercent(ramp, step);
  const treatmentTotal = weights.slice(1).reduce((s, w) => s + w, 0);
  if (percent === null || weights.length < 2 || !(treatmentTotal > 0))
    return weights.map((w) => (total > 0 ? w / total : 0));
  const share = Math.min(100, Math.max(0, percent)) / 100;
  return [1 - share, ...weights.slice(1).map((w) => (share * w) / treatmentTotal)];
}
