import { describe, expect, it } from "vitest";
import { breakEven } from "../../src/experiments/stats/index.js";

const base = {
  trainingCost: 400,
  evaluationCost: 100,
  costPerCallBaseline: 0.012,
  costPerCallFineTuned: 0.002,
};

describe("fine-tune break-even", () => {
  it("is (training + evaluation) / saving per call, and days at the observed rate", () => {
    const r = breakEven({ ...base, callsPerDay: 5000 });
    expect(r.upfrontCost).toBe(500);
    expect(r.savingPerCall).toBeCloseTo(0.01, 15);
    expect(r.breaksEven).toBe(true);
    expect(r.breakEvenCalls).toBe(50_000);
    expect(r.daysToBreakEven).toBeCloseTo(10, 9);
  });

  it("rounds calls up: a fraction of a call is not a break-even", () => {
    const r = breakEven({ ...base, costPerCallFineTuned: 0.005 });
    expect(r.breakEvenCalls).toBe(Math.ceil(500 / 0.007));
    expect(r.daysToBreakEven).toBeNull();
  });

  it("never breaks even when the fine-tuned arm is not cheaper: null, not Infinity", () => {
    for (const costPerCallFineTuned of [0.012, 0.02]) {
      const r = breakEven({ ...base, costPerCallFineTuned, callsPerDay: 1000 });
      expect(r.breaksEven).toBe(false);
      expect(r.breakEvenCalls).toBeNull();
      expect(r.daysToBreakEven).toBeNull();
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    }
  });

  it("has nothing to recover without upfront cost, and no date without traffic", () => {
    expect(breakEven({ ...base, trainingCost: 0, evaluationCost: 0 })).toMatchObject({
      breaksEven: true,
      breakEvenCalls: 0,
      daysToBreakEven: 0,
    });
    expect(breakEven({ ...base, callsPerDay: 0 }).daysToBreakEven).toBeNull();
  });

  it("rejects negative or non-finite costs", () => {
    expect(() => breakEven({ ...base, trainingCost: -1 })).toThrow(RangeError);
    expect(() => breakEven({ ...base, costPerCallBaseline: Number.NaN })).toThrow(RangeError);
    expect(() => breakEven({ ...base, callsPerDay: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });
});
