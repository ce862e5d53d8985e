import { describe, expect, it } from "vitest";
import { assign, bucket, chooseArm, fnv1a32 } from "../../src/gateway/assignment.js";

/** An independent, deliberately naive FNV-1a: BigInt arithmetic, no 32-bit tricks. */
function naiveFnv(s: string): number {
  let h = 2166136261n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 16777619n) % 2n ** 32n;
  }
  return Number(h);
}
const naiveBucket = (seed: string, unit: string) => (naiveFnv(String(naiveFnv(seed + unit))) % 10000) / 10000;

describe("fnv1a32", () => {
  it("matches the reference FNV-1a 32-bit vectors", () => {
    // From the FNV reference test suite (isthe.com/chongo/tech/comp/fnv).
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("agrees with a naive BigInt implementation, non-ASCII included", () => {
    for (const s of ["", "x", "session:abc-123", "user:émile", "日本語", "a".repeat(300), "\u{1F600}"]) {
      expect(fnv1a32(s)).toBe(naiveFnv(s));
    }
  });
});

describe("bucket (GrowthBook hash v2)", () => {
  it("reproduces GrowthBook's published v2 test cases", () => {
    // growthbook/growthbook packages/sdk-js/test/cases.json, "hash" section (spec 0.5.4),
    // entries with hash version 2: [seed, value, expected].
    const cases: [string, string, number][] = [
      ["seed", "a", 0.0505],
      ["seed", "b", 0.2696],
      ["foo", "ab", 0.2575],
      ["foo", "def", 0.2019],
      ["89123klj", "8952klfjas09ujkasdf", 0.124],
      ["90850943850283058242805", "123", 0.7516],
      ["()**(%$##$%#$#", '___)((*":&', 0.0128],
    ];
    for (const [seed, value, expected] of cases) expect(bucket(seed, value)).toBe(expected);
  });

  it("reproduces the buckets of GrowthBook's v2 experiment cases (seed = experiment key)", () => {
    // Same file, "feature" cases with hashVersion 2: the bucket reported in experimentResult.
    expect(bucket("feature", "123")).toBe(0.5231);
    expect(bucket("experiment", "1")).toBe(0.4413);
    expect(bucket("holdout", "1")).toBe(0.8043);
  });

  it("agrees with the naive implementation on many keys", () => {
    for (let i = 0; i < 500; i++) {
      const salt = `exp-${i % 7}`;
      const unit = `session:${i * 7919}`;
      expect(bucket(salt, unit)).toBe(naiveBucket(salt, unit));
    }
  });

  it("is deterministic and lies in [0, 1) with four decimals", () => {
    for (let i = 0; i < 1000; i++) {
      const b = bucket("salt", `u${i}`);
      expect(b).toBe(bucket("salt", `u${i}`));
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(1);
      expect(Math.round(b * 10000)).toBeCloseTo(b * 10000, 6);
    }
  });

  it("gives independent assignments under different salts", () => {
    let same = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const a = chooseArm([1, 1], bucket("exp-a", `u${i}`));
      const b = chooseArm([1, 1], bucket("exp-b", `u${i}`));
      if (a === b) same++;
    }
    // Independent 50/50 draws agree about half the time; a salt that did nothing would give 100%.
    expect(same / n).toBeGreaterThan(0.45);
    expect(same / n).toBeLessThan(0.55);
  });
});

describe("chooseArm", () => {
  it("uses cumulative normalized weights", () => {
    const w = [0.2, 0.3, 0.5];
    expect(chooseArm(w, 0)).toBe(0);
    expect(chooseArm(w, 0.1999)).toBe(0);
    expect(chooseArm(w, 0.2)).toBe(1);
    expect(chooseArm(w, 0.4999)).toBe(1);
    expect(chooseArm(w, 0.5)).toBe(2);
    expect(chooseArm(w, 0.9999)).toBe(2);
    // Unnormalized weights mean the same split.
    expect(chooseArm([20, 30, 50], 0.2)).toBe(1);
    expect(chooseArm([2, 3, 5], 0.4999)).toBe(1);
  });

  it("never picks a zero-weight arm", () => {
    for (const b of [0, 0.25, 0.5, 0.75, 0.9999]) {
      expect(chooseArm([0, 1, 0, 1, 0], b)).not.toBe(0);
      expect([1, 3]).toContain(chooseArm([0, 1, 0, 1, 0], b));
    }
    expect(chooseArm([1, 0], 0.9999)).toBe(0);
  });

  it("puts the top bucket in the last arm despite rounding", () => {
    // 0.1 * 3 sums to 0.30000000000000004 and thirds do not sum exactly to 1.
    expect(chooseArm([1 / 3, 1 / 3, 1 / 3], 0.9999)).toBe(2);
    expect(chooseArm([0.1, 0.1, 0.1], 0.9999)).toBe(2);
  });

  it("rejects unusable weights", () => {
    expect(() => chooseArm([], 0.5)).toThrow(RangeError);
    expect(() => chooseArm([0, 0], 0.5)).toThrow(RangeError);
    expect(() => chooseArm([1, -1], 0.5)).toThrow(RangeError);
    expect(() => chooseArm([1, Number.NaN], 0.5)).toThrow(RangeError);
  });
});

describe("assign", () => {
  it("splits 20,000 units within 1.5 points of the weights", () => {
    for (const weights of [
      [0.5, 0.5],
      [0.1, 0.9],
      [0.2, 0.3, 0.5],
      [1, 1, 1, 1],
    ]) {
      const total = weights.reduce((a, b) => a + b, 0);
      const counts = weights.map(() => 0);
      const n = 20_000;
      for (let i = 0; i < n; i++) {
        const { arm } = assign("exp-42", `session:${i}-${(i * 2654435761) % 1000003}`, weights);
        counts[arm] = (counts[arm] ?? 0) + 1;
      }
      counts.forEach((c, k) => {
        expect(Math.abs(c / n - (weights[k] as number) / total)).toBeLessThan(0.015);
      });
    }
  });

  it("returns the bucket it used and the same arm for the same unit every time", () => {
    const a = assign("exp-1", "session:run-77", [0.5, 0.5]);
    expect(a.bucket).toBe(bucket("exp-1", "session:run-77"));
    expect(a.arm).toBe(chooseArm([0.5, 0.5], a.bucket));
    for (let i = 0; i < 10; i++) expect(assign("exp-1", "session:run-77", [0.5, 0.5])).toEqual(a);
  });

  it("moves only the units in the range that changed hands when weights ramp", () => {
    let movedToB = 0;
    let movedToA = 0;
    for (let i = 0; i < 5000; i++) {
      const before = assign("ramp", `u${i}`, [0.9, 0.1]).arm;
      const after = assign("ramp", `u${i}`, [0.5, 0.5]).arm;
      if (before === 0 && after === 1) movedToB++;
      if (before === 1 && after === 0) movedToA++;
    }
    expect(movedToA).toBe(0);
    expect(movedToB).toBeGreaterThan(0);
  });
});
