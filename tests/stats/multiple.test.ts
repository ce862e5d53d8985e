import { describe, expect, it } from "vitest";
import { holmAdjust, holmReject } from "../../src/experiments/stats/index.js";
import { seededRng } from "./prng.js";

describe("Holm–Bonferroni", () => {
  const rng = seededRng(42);
  const families = Array.from({ length: 50 }, () =>
    Array.from({ length: 1 + Math.floor(rng.uniform() * 12) }, () => rng.uniform() ** 3),
  );

  it("never lowers a p-value and never exceeds Bonferroni or 1", () => {
    for (const ps of families) {
      const adj = holmAdjust(ps);
      ps.forEach((p, i) => {
        expect(adj[i]).toBeGreaterThanOrEqual(p);
        expect(adj[i]).toBeLessThanOrEqual(Math.min(1, ps.length * p) + 1e-15);
      });
    }
  });

  it("is monotone: a smaller raw p never gets a larger adjusted p", () => {
    for (const ps of families) {
      const adj = holmAdjust(ps);
      for (let i = 0; i < ps.length; i++) {
        for (let j = 0; j < ps.length; j++) {
          if ((ps[i] as number) <= (ps[j] as number)) expect(adj[i]).toBeLessThanOrEqual(adj[j] as number);
        }
      }
    }
  });

  it("rejects everything Bonferroni rejects (it is uniformly more powerful)", () => {
    for (const ps of families) {
      const holm = holmReject(ps, 0.05);
      ps.forEach((p, i) => {
        if (p * ps.length <= 0.05) expect(holm[i]).toBe(true);
      });
    }
  });

  it("leaves a single test alone, handles an empty family and rejects invalid p", () => {
    expect(holmAdjust([0.03])).toEqual([0.03]);
    expect(holmAdjust([])).toEqual([]);
    expect(() => holmAdjust([0.1, 1.2])).toThrow(RangeError);
    expect(() => holmAdjust([Number.NaN])).toThrow(RangeError);
  });
});
