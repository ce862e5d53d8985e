import { describe, expect, it } from "vitest";
import {
  latencyPercentiles,
  logRatio,
  quantile,
  quantiles,
  summarizeLog,
} from "../../src/experiments/stats/index.js";
import { seededRng } from "./prng.js";

describe("sample quantiles (numpy 'linear')", () => {
  const xs = [9, 1, 7, 3, 3, 5];

  it("gives the minimum at 0, the maximum at 1 and is monotone in q", () => {
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 1)).toBe(9);
    let previous = Number.NEGATIVE_INFINITY;
    for (let q = 0; q <= 1; q += 0.01) {
      const v = quantile(xs, q);
      expect(v).toBeGreaterThanOrEqual(previous);
      previous = v;
    }
  });

  it("interpolates between order statistics: h = (n − 1)·q", () => {
    // sorted 1 3 3 5 7 9; q = 0.5 → h = 2.5 → 3 + 0.5·(5 − 3)
    expect(quantile(xs, 0.5)).toBe(4);
    expect(quantiles([10, 20], [0.25, 0.95])).toEqual([12.5, 19.5]);
  });

  it("sorts numerically and leaves the input alone", () => {
    const input = [100, 9, 20];
    expect(latencyPercentiles(input).p50).toBe(20);
    expect(input).toEqual([100, 9, 20]);
  });

  it("refuses empty samples, NaN and levels outside [0, 1]", () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1, Number.NaN], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
  });
});

describe("log-latency comparison", () => {
  it("reports the ratio of geometric means", () => {
    const c = [100, 200, 400, 800];
    const t = c.map((x) => x * 0.9);
    const r = logRatio(summarizeLog(c), summarizeLog(t));
    expect(r.ratio).toBeCloseTo(0.9, 12);
    expect(r.ci[0]).toBeLessThan(0.9);
    expect(r.ci[1]).toBeGreaterThan(0.9);
  });

  it("detects a 10% speed-up in heavy-tailed latencies with enough units", () => {
    const rng = seededRng(17);
    const lognormal = (median: number) => median * Math.exp(0.8 * rng.normal());
    const c = Array.from({ length: 3000 }, () => lognormal(800));
    const t = Array.from({ length: 3000 }, () => lognormal(720));
    const r = logRatio(summarizeLog(c), summarizeLog(t));
    expect(r.ci[1]).toBeLessThan(1);
    expect(r.ratio).toBeGreaterThan(0.85);
    expect(r.ratio).toBeLessThan(0.95);
  });

  it("refuses non-positive latencies", () => {
    expect(() => summarizeLog([10, 0])).toThrow(RangeError);
  });
});
