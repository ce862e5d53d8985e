import { describe, expect, it } from "vitest";
import {
  csWidthRatio,
  mdeMean,
  mdeProportion,
  powerAt,
  sampleSizeMean,
  sampleSizeProportion,
  summarize,
  welchTest,
} from "../../src/experiments/stats/index.js";
import { normals, seededRng } from "./prng.js";

describe("power and sample size", () => {
  it("reproduces the worked examples of notes §5.11", () => {
    // Success 0.80 → 0.82: "about 6,040 units per arm".
    expect(sampleSizeProportion(0.8, 0.82).perArm).toBe(6036);
    // Judge score SD 1, +0.05: "about 6,280 per arm".
    expect(sampleSizeMean(0.05, { varianceControl: 1 }).perArm).toBe(6280);
    // Log-latency SD 0.6, 5% change: "about 2,370 per arm".
    expect(sampleSizeMean(Math.log(1.05), { varianceControl: 0.36 }).perArm).toBe(2374);
  });

  it("is close to the one-tail closed form (z_{1−α/2} + z_π)²(σ²_C + σ²_T)/δ²", () => {
    const exact = sampleSizeMean(0.3, { varianceControl: 2, varianceTreatment: 3.5 }).exact;
    const closed = ((1.959963984540054 + 0.8416212335729143) ** 2 * 5.5) / 0.09;
    expect(Math.abs(exact / closed - 1)).toBeLessThan(1e-5);
  });

  it("MDE and sample size are inverse to each other", () => {
    const design = { varianceControl: 1.3, varianceTreatment: 0.7, alpha: 0.05, power: 0.9 };
    const n = sampleSizeMean(0.2, design).exact;
    expect(mdeMean(n, design)).toBeCloseTo(0.2, 10);
    const m = mdeProportion(sampleSizeProportion(0.3, 0.33).exact, 0.3) as number;
    expect(m).toBeCloseTo(0.03, 9);
  });

  it("reaches the target power at the solved effect, and α at no effect", () => {
    expect(powerAt(0)).toBeCloseTo(0.05, 12);
    const n = sampleSizeMean(0.5, { varianceControl: 4 }).exact;
    expect(powerAt(0.5 / Math.sqrt(8 / n))).toBeCloseTo(0.8, 10);
  });

  it("has no MDE for a rate when even the largest change is not detectable", () => {
    expect(mdeProportion(10, 0.5, { power: 0.9 })).toBeNull();
    expect(mdeProportion(10_000, 0.5)).not.toBeNull();
  });

  it("delivers the promised power in simulation (Welch, 2,000 runs at the planned n)", () => {
    const delta = 0.3;
    const n = sampleSizeMean(delta, { varianceControl: 1 }).perArm; // 175
    const rng = seededRng(808);
    let rejected = 0;
    const runs = 2000;
    for (let r = 0; r < runs; r++) {
      const w = welchTest(summarize(normals(rng, n)), summarize(normals(rng, n, delta)));
      if (w.p < 0.05) rejected++;
    }
    console.log(`simulated power at n=${n}/arm: ${rejected / runs}`);
    expect(rejected / runs).toBeGreaterThan(0.77);
    expect(rejected / runs).toBeLessThan(0.83);
  });

  it("a sequential design needs about 2.4× the units at N* (csWidthRatio², notes §5.11)", () => {
    expect(csWidthRatio(5000) ** 2).toBeCloseTo(2.4, 1);
  });

  it("rejects meaningless designs", () => {
    expect(() => sampleSizeMean(0, { varianceControl: 1 })).toThrow(RangeError);
    expect(() => sampleSizeMean(1, { varianceControl: 0 })).toThrow(RangeError);
    expect(() => sampleSizeMean(1, { varianceControl: 1, power: 1 })).toThrow(RangeError);
    expect(() => sampleSizeProportion(0, 0.1)).toThrow(RangeError);
    expect(() => mdeMean(0, { varianceControl: 1 })).toThrow(RangeError);
  });
});
