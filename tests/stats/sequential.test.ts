/**
 * Always-valid inference: the property that matters is that looking at every interim result
 * does not inflate false positives. Simulated A/A experiments (both arms identical), 20 looks
 * each, seeded: the always-valid methods must reject a true null at most ~α of the time over the
 * whole run, while the naive fixed-horizon test checked at each look must not (which shows the
 * simulation can tell the difference). A real effect must still be found (not vacuous).
 */
import { describe, expect, it } from "vitest";
import {
  confidenceSequence,
  csWidthRatio,
  type MeanSummary,
  mdeMean,
  mergeMean,
  msprtInterval,
  msprtPValue,
  msprtTau2,
  summarize,
  twoProportions,
  welchTest,
} from "../../src/experiments/stats/index.js";
import { normals, seededRng } from "./prng.js";

const ALPHA = 0.05;
const LOOKS = 20;
/** ±3.2 Monte Carlo standard errors above α for 2,000 runs (√(0.05·0.95/2000) ≈ 0.0049). */
const MARGIN = 0.065;

interface Rates {
  naive: number;
  cs: number;
  msprt: number;
}

interface Look {
  diff: number;
  se: number;
  /** fixed-horizon two-sided p */
  p: number;
  nTotal: number;
}

/**
 * Runs `runs` sequences of `LOOKS` looks; `look(rng)` returns the next cumulative comparison.
 * Each method's rejection counts if it rejects at ANY look (that is what peeking does).
 */
function simulate(
  runs: number,
  seed: number,
  start: () => (rng: ReturnType<typeof seededRng>) => Look,
  tuningN: number,
  tau2: number,
): Rates {
  const rng = seededRng(seed);
  let naive = 0;
  let cs = 0;
  let msprt = 0;
  for (let r = 0; r < runs; r++) {
    const next = start();
    let naiveHit = false;
    let csHit = false;
    let previousP = 1;
    for (let k = 0; k < LOOKS; k++) {
      const l = next(rng);
      if (l.p < ALPHA) naiveHit = true;
      const seq = confidenceSequence({ estimate: l.diff, se: l.se, n: l.nTotal, alpha: ALPHA, tuningN });
      if (seq.ci[0] > 0 || seq.ci[1] < 0) csHit = true;
      previousP = msprtPValue({ estimate: l.diff, se: l.se, tau2, previousP });
    }
    if (naiveHit) naive++;
    if (csHit) cs++;
    if (previousP <= ALPHA) msprt++;
  }
  return { naive: naive / runs, cs: cs / runs, msprt: msprt / runs };
}

/** Continuous metric, 50 units per arm per look, N(0, 1) in control and N(effect, 1) in treatment. */
function continuous(effect: number) {
  return () => {
    let c: MeanSummary = summarize([]);
    let t: MeanSummary = summarize([]);
    return (rng: ReturnType<typeof seededRng>): Look => {
      c = mergeMean(c, summarize(normals(rng, 50)));
      t = mergeMean(t, summarize(normals(rng, 50, effect)));
      const w = welchTest(c, t, ALPHA);
      return { diff: w.diff, se: w.se, p: w.p, nTotal: c.n + t.n };
    };
  };
}

/** Binary metric at rate `base` (control) and `base + effect`, 100 units per arm per look. */
function binary(base: number, effect: number) {
  return () => {
    const c = { successes: 0, n: 0 };
    const t = { successes: 0, n: 0 };
    return (rng: ReturnType<typeof seededRng>): Look => {
      for (let i = 0; i < 100; i++) {
        if (rng.uniform() < base) c.successes++;
        if (rng.uniform() < base + effect) t.successes++;
      }
      c.n += 100;
      t.n += 100;
      const r = twoProportions(c, t, { alpha: ALPHA, test: "unpooled" });
      return { diff: r.diff, se: r.se, p: r.p, nTotal: c.n + t.n };
    };
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

// Continuous design: 1,000 units per arm at the last look; N* = the planned total; τ = the MDE.
const FINAL_PER_ARM = 50 * LOOKS;
const TAU2 = mdeMean(FINAL_PER_ARM, { varianceControl: 1 }) ** 2;

describe("A/A, continuous metric: 2,000 runs × 20 looks", () => {
  const aa = simulate(2000, 0xa11ce, continuous(0), 2 * FINAL_PER_ARM, TAU2);
  console.log(`A/A continuous (2,000 × 20 looks) ever-reject rate: ${JSON.stringify(aa)}`);

  it(`confidence sequence rejects in ${pct(aa.cs)} of runs (≤ ${pct(MARGIN)})`, () => {
    expect(aa.cs).toBeLessThanOrEqual(MARGIN);
  });
  it(`mSPRT p ≤ α in ${pct(aa.msprt)} of runs (≤ ${pct(MARGIN)})`, () => {
    expect(aa.msprt).toBeLessThanOrEqual(MARGIN);
  });
  it(`naive fixed-horizon peeking rejects in ${pct(aa.naive)} of runs (> ${pct(MARGIN)}: the simulation detects peeking)`, () => {
    expect(aa.naive).toBeGreaterThan(MARGIN);
    expect(aa.naive).toBeGreaterThan(2 * Math.max(aa.cs, aa.msprt));
  });
});

describe("A/A, binary metric (rate 0.2): 2,000 runs × 20 looks", () => {
  const aa = simulate(2000, 0xb0b, binary(0.2, 0), 2 * 100 * LOOKS, 0.02 ** 2);
  console.log(`A/A binary (2,000 × 20 looks) ever-reject rate: ${JSON.stringify(aa)}`);

  it(`confidence sequence rejects in ${pct(aa.cs)} of runs`, () => {
    expect(aa.cs).toBeLessThanOrEqual(MARGIN);
  });
  it(`mSPRT p ≤ α in ${pct(aa.msprt)} of runs`, () => {
    expect(aa.msprt).toBeLessThanOrEqual(MARGIN);
  });
  it(`naive peeking rejects in ${pct(aa.naive)} of runs`, () => {
    expect(aa.naive).toBeGreaterThan(MARGIN);
  });
});

describe("a real effect is still found (the always-valid tests are not vacuous)", () => {
  // Effect 0.25 SD, twice the fixed-horizon MDE at the last look.
  const ab = simulate(500, 0xeffec7, continuous(0.25), 2 * FINAL_PER_ARM, TAU2);
  console.log(`A/B continuous, effect 0.25 SD (500 × 20 looks) reject rate: ${JSON.stringify(ab)}`);
  it(`confidence sequence detects it in ${pct(ab.cs)} of runs`, () => {
    expect(ab.cs).toBeGreaterThan(0.9);
  });
  it(`mSPRT detects it in ${pct(ab.msprt)} of runs`, () => {
    expect(ab.msprt).toBeGreaterThan(0.9);
  });
});

describe("confidence sequence shape", () => {
  it("is ≈1.55× the fixed-horizon width at N*, 1.97× at N*/10, 1.65× at 10·N* (notes §5.7)", () => {
    expect(csWidthRatio(5000, 5000, 0.05)).toBeCloseTo(1.55, 2);
    expect(csWidthRatio(500, 5000, 0.05)).toBeCloseTo(1.97, 2);
    expect(csWidthRatio(50000, 5000, 0.05)).toBeCloseTo(1.65, 2);
  });
  it("is wider than the fixed-horizon interval at every n, and narrows as n grows at fixed σ", () => {
    let previous = Number.POSITIVE_INFINITY;
    for (const n of [2, 10, 100, 1000, 5000, 20000, 1e5, 1e6]) {
      expect(csWidthRatio(n)).toBeGreaterThan(1);
      // Fixed per-unit σ = 1, so se = 1/√n.
      const half = confidenceSequence({ estimate: 0, se: 1 / Math.sqrt(n), n }).halfWidth;
      expect(half).toBeLessThan(previous);
      previous = half;
    }
  });
  it("is centred on the estimate and rejects bad input", () => {
    const cs = confidenceSequence({ estimate: 2, se: 0.5, n: 400 });
    expect((cs.ci[0] + cs.ci[1]) / 2).toBeCloseTo(2, 12);
    expect(() => confidenceSequence({ estimate: 0, se: -1, n: 10 })).toThrow(RangeError);
    expect(() => confidenceSequence({ estimate: 0, se: 1, n: 0 })).toThrow(RangeError);
    expect(() => confidenceSequence({ estimate: 0, se: 1, n: 10, tuningN: 0 })).toThrow(RangeError);
    expect(() => confidenceSequence({ estimate: 0, se: 1, n: 10, alpha: 1 })).toThrow(RangeError);
  });
});

describe("mSPRT", () => {
  it("keeps the running minimum: a later, weaker look never raises p", () => {
    const strong = msprtPValue({ estimate: 0.05, se: 0.01, tau2: 1e-3 });
    const weak = msprtPValue({ estimate: 0.0, se: 0.01, tau2: 1e-3, previousP: strong });
    expect(strong).toBeLessThan(0.05);
    expect(weak).toBe(strong);
    expect(msprtPValue({ estimate: 0, se: 0.01, tau2: 1e-3 })).toBe(1);
  });
  it("rejects exactly when the null lies outside the mSPRT interval", () => {
    for (const estimate of [0.01, 0.02, 0.03, 0.035, 0.05]) {
      const p = msprtPValue({ estimate, se: 0.01, tau2: 4e-4 });
      const [lo, hi] = msprtInterval({ estimate, se: 0.01, tau2: 4e-4, alpha: ALPHA });
      expect(p <= ALPHA).toBe(lo > 0 || hi < 0);
    }
  });
  it("has a positive τ² heuristic that grows with σ² and rejects bad input", () => {
    expect(msprtTau2(1, 10000)).toBeGreaterThan(0);
    expect(msprtTau2(2, 10000)).toBeGreaterThan(msprtTau2(1, 10000));
    expect(() => msprtTau2(0, 100)).toThrow(RangeError);
    expect(() => msprtPValue({ estimate: 0, se: 1, tau2: 0 })).toThrow(RangeError);
    expect(() => msprtPValue({ estimate: 0, se: 1, tau2: 1, previousP: 2 })).toThrow(RangeError);
  });
});
