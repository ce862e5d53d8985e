import { describe, expect, it } from "vitest";
import { summarize, welchTest } from "../../src/experiments/stats/index.js";
import { normals, seededRng } from "./prng.js";

describe("Welch's t-test", () => {
  const rng = seededRng(11);
  const c = summarize(normals(rng, 40, 10, 1));
  const t = summarize(normals(rng, 25, 10.6, 4));

  it("is antisymmetric in the arms", () => {
    const a = welchTest(c, t);
    const b = welchTest(t, c);
    expect(b.diff).toBeCloseTo(-a.diff, 12);
    expect(b.t).toBeCloseTo(-a.t, 12);
    expect(b.df).toBeCloseTo(a.df, 9);
    expect(b.p).toBeCloseTo(a.p, 12);
  });

  it("has Welch–Satterthwaite df between min(n) − 1 and n_C + n_T − 2", () => {
    const r = welchTest(c, t);
    expect(r.df).toBeGreaterThanOrEqual(24);
    expect(r.df).toBeLessThanOrEqual(63);
  });

  it("p < α exactly when the CI excludes 0", () => {
    for (let shift = -1.5; shift <= 1.5; shift += 0.1) {
      const moved = summarize(normals(seededRng(5), 25, 10 + shift, 1.5));
      const r = welchTest(c, moved);
      expect(r.p < 0.05).toBe(r.ci[0] > 0 || r.ci[1] < 0);
    }
  });

  it("gives finite answers when both arms are constant", () => {
    const same = welchTest(summarize([2, 2, 2]), summarize([2, 2]));
    expect(same.t).toBe(0);
    expect(same.p).toBe(1);
    expect(same.ci).toEqual([0, 0]);
    const apart = welchTest(summarize([2, 2, 2]), summarize([3, 3]));
    expect(apart.t).toBe(Number.POSITIVE_INFINITY);
    expect(apart.p).toBe(0);
  });

  it("needs two units per arm", () => {
    expect(() => welchTest(summarize([1]), summarize([1, 2]))).toThrow(RangeError);
  });
});
