import { describe, expect, it } from "vitest";
import {
  meanArmEstimate,
  ratioDifference,
  ratioEstimate,
  relativeLift,
  relativeLiftMeans,
  relativeLiftRatios,
  sampleVariance,
  summarize,
  summarizeRatio,
} from "../../src/experiments/stats/index.js";
import { seededRng } from "./prng.js";

/** Sessions with 1–8 calls whose costs share a per-session factor (correlated within a session). */
function sessions(rng: ReturnType<typeof seededRng>, n: number, costPerCall: number) {
  const m: number[] = [];
  const d: number[] = [];
  for (let i = 0; i < n; i++) {
    const calls = 1 + Math.floor(rng.uniform() * 8);
    const factor = 0.3 + 1.4 * rng.uniform();
    let cost = 0;
    for (let k = 0; k < calls; k++) cost += costPerCall * factor * (0.5 + rng.uniform());
    m.push(cost);
    d.push(calls);
  }
  return { m, d };
}

describe("ratio metrics (delta method)", () => {
  it("with one call per session reduces to the mean and s²/n", () => {
    const m = [1, 4, 2.5, 7, 3];
    const r = ratioEstimate(summarizeRatio(m, [1, 1, 1, 1, 1]));
    const s = summarize(m);
    expect(r.ratio).toBeCloseTo(17.5 / 5, 12);
    expect(r.variance).toBeCloseTo(sampleVariance(s) / 5, 12);
  });

  it("is ΣM/ΣD, not the mean of per-session ratios", () => {
    const r = ratioEstimate(summarizeRatio([10, 1], [10, 1]));
    expect(r.ratio).toBe(1);
    expect(ratioEstimate(summarizeRatio([10, 2], [10, 1])).ratio).toBeCloseTo(12 / 11, 12);
  });

  it("A/A: the 95% CI of the difference covers 0 in ~95% of 1,000 simulated experiments", () => {
    const rng = seededRng(99);
    let covered = 0;
    const runs = 1000;
    for (let i = 0; i < runs; i++) {
      const a = sessions(rng, 150, 0.01);
      const b = sessions(rng, 150, 0.01);
      const r = ratioDifference(summarizeRatio(a.m, a.d), summarizeRatio(b.m, b.d));
      if (r.ci[0] <= 0 && r.ci[1] >= 0) covered++;
    }
    console.log(`ratio-difference CI coverage in A/A: ${covered / runs}`);
    expect(covered / runs).toBeGreaterThan(0.93);
    expect(covered / runs).toBeLessThan(0.97);
  });

  it("refuses a denominator that sums to 0", () => {
    expect(() => ratioEstimate(summarizeRatio([0, 0], [0, 0]))).toThrow(RangeError);
  });
});

describe("relative lift", () => {
  it("is 0 with a symmetric CI for identical arms, and T/C − 1 otherwise", () => {
    const s = summarize([1, 2, 3, 4, 5]);
    const same = relativeLiftMeans(s, s);
    expect(same.lift).toBe(0);
    expect(same.ci[0]).toBeCloseTo(-same.ci[1], 12);
    const up = relativeLiftMeans(summarize([10, 12, 11, 9]), summarize([11, 13.2, 12.1, 9.9]));
    expect(up.lift).toBeCloseTo(0.1, 12);
  });

  it("for ratio metrics with one call per session equals the lift of means", () => {
    const a = [3, 5, 4, 6, 2, 7];
    const b = [4, 6, 5, 8, 3, 6];
    const ones = a.map(() => 1);
    const viaRatio = relativeLiftRatios(summarizeRatio(a, ones), summarizeRatio(b, ones));
    const viaMeans = relativeLiftMeans(summarize(a), summarize(b));
    expect(viaRatio.lift).toBeCloseTo(viaMeans.lift, 12);
    expect(viaRatio.se).toBeCloseTo(viaMeans.se, 12);
  });

  it("has zero variance from a control measured exactly only through the treatment term", () => {
    const exactControl = { estimate: 2, variance: 0 };
    const t = meanArmEstimate(summarize([2.1, 2.3, 1.9, 2.2]));
    expect(relativeLift(exactControl, t).se).toBeCloseTo(Math.sqrt(t.variance) / 2, 12);
  });

  it("is undefined when the control is 0", () => {
    expect(() => relativeLift({ estimate: 0, variance: 1 }, { estimate: 1, variance: 1 })).toThrow(
      RangeError,
    );
  });
});
