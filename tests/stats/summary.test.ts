import { describe, expect, it } from "vitest";
import {
  EMPTY_MEAN,
  EMPTY_RATIO,
  mean,
  mergeMean,
  mergeRatio,
  ratioMoments,
  sampleVariance,
  summarize,
  summarizeBinary,
  summarizeRatio,
} from "../../src/experiments/stats/index.js";
import { normals, seededRng } from "./prng.js";

function twoPassVariance(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
}

describe("sufficient statistics", () => {
  const rng = seededRng(7);
  const a = normals(rng, 137, 5, 2);
  const b = normals(rng, 58, 5.5, 3);

  it("merging partial summaries equals summarising everything at once", () => {
    const merged = mergeMean(summarize(a), EMPTY_MEAN, summarize(b));
    const whole = summarize([...a, ...b]);
    expect(merged.n).toBe(whole.n);
    expect(merged.sum).toBeCloseTo(whole.sum, 9);
    expect(merged.sumSq).toBeCloseTo(whole.sumSq, 8);
  });

  it("mean and sample variance (n − 1) agree with a two-pass computation", () => {
    const s = summarize(a);
    expect(mean(s)).toBeCloseTo(a.reduce((x, y) => x + y, 0) / a.length, 12);
    expect(sampleVariance(s)).toBeCloseTo(twoPassVariance(a), 10);
  });

  it("keeps 1e-9 relative precision for latency-like values (mean 800, SD 50)", () => {
    const xs = normals(seededRng(3), 10_000, 800, 50);
    const v = sampleVariance(summarize(xs));
    expect(Math.abs(v / twoPassVariance(xs) - 1)).toBeLessThan(1e-9);
  });

  it("a binary summary is a 0/1 sample", () => {
    const s = summarizeBinary(3, 10);
    const direct = summarize([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(s).toEqual(direct);
    expect(() => summarizeBinary(11, 10)).toThrow(RangeError);
    expect(() => summarizeBinary(1.5, 10)).toThrow(RangeError);
  });

  it("ratio summaries merge and give the sample covariance", () => {
    const m = [1, 2, 3, 4, 5.5];
    const d = [1, 1, 2, 2, 3];
    const whole = summarizeRatio(m, d);
    const merged = mergeRatio(
      summarizeRatio(m.slice(0, 2), d.slice(0, 2)),
      EMPTY_RATIO,
      summarizeRatio(m.slice(2), d.slice(2)),
    );
    expect(merged).toEqual(whole);
    const mm = ratioMoments(whole);
    const meanM = 15.5 / 5;
    const meanD = 9 / 5;
    const cov = m.reduce((acc, x, i) => acc + (x - meanM) * ((d[i] as number) - meanD), 0) / 4;
    expect(mm.covMD).toBeCloseTo(cov, 12);
    expect(mm.varD).toBeCloseTo(twoPassVariance(d), 12);
  });

  it("rejects what cannot be summarised", () => {
    expect(() => summarize([1, Number.NaN])).toThrow(RangeError);
    expect(() => summarizeRatio([1, 2], [1])).toThrow(RangeError);
    expect(() => sampleVariance(summarize([1]))).toThrow(RangeError);
    expect(() => mean(EMPTY_MEAN)).toThrow(RangeError);
  });
});
