import { describe, expect, it } from "vitest";
import { twoProportions, wilsonInterval } from "../../src/experiments/stats/index.js";

describe("Wilson interval", () => {
  it("stays within [0, 1] and contains the observed rate for every count", () => {
    for (const n of [1, 2, 5, 20, 137, 1000]) {
      for (let s = 0; s <= n; s++) {
        const { estimate, ci } = wilsonInterval(s, n);
        expect(ci[0]).toBeGreaterThanOrEqual(0);
        expect(ci[1]).toBeLessThanOrEqual(1);
        expect(ci[0]).toBeLessThanOrEqual(estimate);
        expect(ci[1]).toBeGreaterThanOrEqual(estimate);
      }
    }
  });

  it("is not degenerate at 0 successes and narrows as n grows", () => {
    const zero = wilsonInterval(0, 20);
    expect(zero.ci[0]).toBe(0);
    expect(zero.ci[1]).toBeGreaterThan(0.1);
    const widths = [10, 100, 1000, 10000].map((n) => {
      const { ci } = wilsonInterval(n / 2, n);
      return ci[1] - ci[0];
    });
    for (let i = 1; i < widths.length; i++) expect(widths[i]).toBeLessThan(widths[i - 1] as number);
  });

  it("narrows as α grows", () => {
    const w = (alpha: number) => {
      const { ci } = wilsonInterval(30, 100, alpha);
      return ci[1] - ci[0];
    };
    expect(w(0.1)).toBeLessThan(w(0.05));
    expect(w(0.05)).toBeLessThan(w(0.01));
  });

  it("rejects impossible counts", () => {
    expect(() => wilsonInterval(0, 0)).toThrow(RangeError);
    expect(() => wilsonInterval(5, 4)).toThrow(RangeError);
    expect(() => wilsonInterval(-1, 4)).toThrow(RangeError);
    expect(() => wilsonInterval(1, 4, 0)).toThrow(RangeError);
  });
});

describe("difference of two proportions", () => {
  const c = { successes: 480, n: 1000 };
  const t = { successes: 530, n: 1000 };

  it("is treatment − control and antisymmetric under swapping the arms", () => {
    const r = twoProportions(c, t);
    const s = twoProportions(t, c);
    expect(r.diff).toBeCloseTo(0.05, 12);
    expect(s.diff).toBeCloseTo(-r.diff, 12);
    expect(s.z).toBeCloseTo(-r.z, 12);
    expect(s.p).toBeCloseTo(r.p, 12);
    expect(r.test).toBe("pooled");
  });

  it("with the unpooled test, p < α exactly when the CI excludes 0", () => {
    for (let st = 440; st <= 560; st += 4) {
      const r = twoProportions(c, { successes: st, n: 1000 }, { test: "unpooled" });
      expect(r.p < 0.05).toBe(r.ci[0] > 0 || r.ci[1] < 0);
    }
  });

  it("pooled and unpooled tests differ when the arms' sizes differ", () => {
    const a = { successes: 3600, n: 4500 };
    const b = { successes: 420, n: 500 };
    const pooled = twoProportions(a, b, { test: "pooled" });
    const unpooled = twoProportions(a, b, { test: "unpooled" });
    expect(pooled.ci).toEqual(unpooled.ci);
    expect(Math.abs(pooled.z - unpooled.z)).toBeGreaterThan(0.1);
  });

  it("handles degenerate rates without NaN", () => {
    const none = twoProportions({ successes: 0, n: 50 }, { successes: 0, n: 50 });
    expect(none.z).toBe(0);
    expect(none.p).toBe(1);
    const certain = twoProportions({ successes: 0, n: 50 }, { successes: 50, n: 50 }, { test: "unpooled" });
    expect(certain.z).toBe(Number.POSITIVE_INFINITY);
    expect(certain.p).toBe(0);
  });
});
