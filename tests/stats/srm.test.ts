import { describe, expect, it } from "vitest";
import { SRM_THRESHOLD, sequentialSrm, srmCheck } from "../../src/experiments/stats/index.js";
import { seededRng } from "./prng.js";

describe("chi-squared SRM check", () => {
  it("does NOT flag 5,100/4,900 at 50/50 (χ² = 4, p ≈ 0.046 > 0.001)", () => {
    const r = srmCheck([5100, 4900], [0.5, 0.5]);
    expect(r.chi2).toBeCloseTo(4, 12);
    expect(r.p).toBeCloseTo(0.0455, 4);
    expect(r.flagged).toBe(false);
  });

  it("flags 5,300/4,700 at 50/50", () => {
    const r = srmCheck([5300, 4700], [0.5, 0.5]);
    expect(r.p).toBeLessThan(SRM_THRESHOLD);
    expect(r.flagged).toBe(true);
  });

  it("does not care about the scale of the weights", () => {
    const a = srmCheck([2010, 1985, 4105], [1, 1, 2]);
    const b = srmCheck([2010, 1985, 4105], [0.25, 0.25, 0.5]);
    expect(a.chi2).toBeCloseTo(b.chi2, 12);
    expect(a.expected).toEqual([2025, 2025, 4050]);
  });

  it("reports no evidence before any traffic, and rejects malformed input", () => {
    expect(srmCheck([0, 0], [1, 1])).toMatchObject({ chi2: 0, p: 1, flagged: false });
    expect(() => srmCheck([10], [1])).toThrow(RangeError);
    expect(() => srmCheck([10, 10], [1, 0])).toThrow(RangeError);
    expect(() => srmCheck([10, 10], [1, 1, 1])).toThrow(RangeError);
    expect(() => srmCheck([10.5, 10], [1, 1])).toThrow(RangeError);
  });
});

describe("sequential SRM", () => {
  function run(days: number[][], weights: number[]) {
    const total = weights.map(() => 0);
    let previousP = 1;
    const ps: number[] = [];
    for (const day of days) {
      day.forEach((x, k) => {
        total[k] = (total[k] as number) + x;
      });
      previousP = sequentialSrm(total, weights, { previousP }).p;
      ps.push(previousP);
    }
    return ps;
  }

  it("has a p-value that never increases, and flags a persistent 53/47 drift", () => {
    const ps = run(
      Array.from({ length: 30 }, () => [530, 470]),
      [0.5, 0.5],
    );
    for (let i = 1; i < ps.length; i++) expect(ps[i]).toBeLessThanOrEqual(ps[i - 1] as number);
    expect(ps.at(-1)).toBeLessThan(SRM_THRESHOLD);
  });

  it("rarely flags correct allocation: ≤ 1% of 300 simulated 20-day experiments at 90/10", () => {
    const rng = seededRng(2024);
    let flagged = 0;
    for (let r = 0; r < 300; r++) {
      const days = Array.from({ length: 20 }, () => {
        let a = 0;
        for (let i = 0; i < 1000; i++) if (rng.uniform() < 0.9) a++;
        return [a, 1000 - a];
      });
      if ((run(days, [0.9, 0.1]).at(-1) as number) < SRM_THRESHOLD) flagged++;
    }
    console.log(`sequential SRM false alarms: ${flagged}/300`);
    expect(flagged).toBeLessThanOrEqual(3);
  });
});
