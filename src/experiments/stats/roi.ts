/**
 * Return on a fine-tune (DESIGN.md, Statistics: "break-even calls = (fine-tune training cost +
 * evaluation cost) / (cost per call saved), and days to break even at the observed traffic
 * rate"). Plain arithmetic; the statistics are in what is passed in.
 *
 * The cost per call of each arm should come from the ratio metric (ratio.ts), since calls are
 * nested in sessions. To plan conservatively, pass the CI bound of the saving (e.g. the upper
 * bound of fine-tuned − baseline from `ratioDifference`) instead of the point estimate.
 *
 * Results are JSON-safe: "never breaks even" is `null`, not Infinity (JSON has no Infinity).
 */

export interface RoiInput {
  /** One-off training cost of the fine-tune (same currency as the per-call costs). */
  trainingCost: number;
  /** One-off evaluation cost (judge calls, shadow traffic, the experiment itself). */
  evaluationCost: number;
  /** Cost per call of the arm being replaced. */
  costPerCallBaseline: number;
  /** Cost per call of the fine-tuned arm. */
  costPerCallFineTuned: number;
  /** Observed calls per day the fine-tuned model would serve; omit when unknown. */
  callsPerDay?: number;
}

export interface RoiResult {
  upfrontCost: number;
  /** costPerCallBaseline − costPerCallFineTuned; ≤ 0 when the fine-tuned arm is not cheaper. */
  savingPerCall: number;
  breaksEven: boolean;
  /**
   * ⌈upfrontCost / savingPerCall⌉ calls; 0 when there is no upfront cost to recover;
   * null when the fine-tuned arm is not cheaper (it never breaks even).
   */
  breakEvenCalls: number | null;
  /**
   * upfrontCost / (savingPerCall · callsPerDay), not rounded; 0 when there is nothing to
   * recover; null when it never breaks even, or callsPerDay is missing or 0 (at no traffic it
   * never does either).
   */
  daysToBreakEven: number | null;
}

function nonNegative(x: number, what: string): void {
  if (!(x >= 0 && Number.isFinite(x))) throw new RangeError(`${what} must be finite and ≥ 0, got ${x}`);
}

export function breakEven(input: RoiInput): RoiResult {
  nonNegative(input.trainingCost, "trainingCost");
  nonNegative(input.evaluationCost, "evaluationCost");
  nonNegative(input.costPerCallBaseline, "costPerCallBaseline");
  nonNegative(input.costPerCallFineTuned, "costPerCallFineTuned");
  if (input.callsPerDay !== undefined) nonNegative(input.callsPerDay, "callsPerDay");

  const upfrontCost = input.trainingCost + input.evaluationCost;
  const savingPerCall = input.costPerCallBaseline - input.costPerCallFineTuned;
  if (upfrontCost === 0) {
    // Nothing to recover: "broken even" from the first call, whatever the saving.
    return { upfrontCost, savingPerCall, breaksEven: true, breakEvenCalls: 0, daysToBreakEven: 0 };
  }
  if (!(savingPerCall > 0)) {
    return { upfrontCost, savingPerCall, breaksEven: false, breakEvenCalls: null, daysToBreakEven: null };
  }
  const calls = upfrontCost / savingPerCall;
  const perDay = input.callsPerDay;
  return {
    upfrontCost,
    savingPerCall,
    breaksEven: true,
    breakEvenCalls: Math.ceil(calls),
    daysToBreakEven: perDay !== undefined && perDay > 0 ? calls / perDay : null,
  };
}
