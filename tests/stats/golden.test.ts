/**
 * Every statistical function against the reference values of tests/golden/stats-reference.json
 * (made by tests/golden/make_stats_reference.py with scipy / statsmodels / numpy; CI re-derives
 * them with tests/golden/check_stats_reference.sh). Tolerance: 1e-6 relative, 1e-12 absolute
 * near zero.
 */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  confidenceSequence,
  csWidthRatio,
  holmAdjust,
  holmReject,
  latencyPercentiles,
  logRatio,
  mdeMean,
  mdeProportion,
  msprtInterval,
  msprtLogLikelihoodRatio,
  msprtPValue,
  msprtTau2,
  powerAt,
  quantiles,
  ratioDifference,
  ratioEstimate,
  relativeLiftMeans,
  relativeLiftProportions,
  relativeLiftRatios,
  sampleSizeMean,
  sampleSizeProportion,
  sequentialSrm,
  srmCheck,
  summarize,
  summarizeLog,
  summarizeRatio,
  twoProportions,
  welchTest,
  wilsonInterval,
} from "../../src/experiments/stats/index.js";

interface GoldenCase {
  name: string;
  input: Record<string, unknown>;
  output: Record<string, unknown>;
}
interface Golden {
  versions: Record<string, string>;
  sections: Record<string, { reference: string; cases: GoldenCase[] }>;
}

const golden = JSON.parse(
  readFileSync(new URL("../golden/stats-reference.json", import.meta.url), "utf8"),
) as Golden;

let worstRelative = 0;
let worstWhere = "";

function close(actual: number, expected: unknown, what: string): void {
  expect(typeof expected, `${what}: reference is not a number`).toBe("number");
  const e = expected as number;
  const err = Math.abs(actual - e);
  const tol = Math.max(1e-12, 1e-6 * Math.abs(e));
  expect(err, `${what}: got ${actual}, expected ${e}`).toBeLessThanOrEqual(tol);
  if (e !== 0 && err / Math.abs(e) > worstRelative && err > 1e-12) {
    worstRelative = err / Math.abs(e);
    worstWhere = what;
  }
}

function closeAll(actual: readonly number[], expected: unknown, what: string): void {
  const e = expected as number[];
  expect(actual.length, `${what}: length`).toBe(e.length);
  actual.forEach((a, i) => {
    close(a, e[i], `${what}[${i}]`);
  });
}

type Arm = { successes: number; n: number };
type RatioArm = { m: number[]; d: number[] };
const num = (x: unknown) => x as number;

const handlers: Record<string, (input: Record<string, unknown>, out: Record<string, unknown>) => void> = {
  wilson(i, o) {
    const r = wilsonInterval(num(i.successes), num(i.n), num(i.alpha));
    close(r.ci[0], o.lower, "lower");
    close(r.ci[1], o.upper, "upper");
  },
  two_proportions(i, o) {
    const r = twoProportions(i.control as Arm, i.treatment as Arm, {
      alpha: num(i.alpha),
      test: i.test as "pooled" | "unpooled",
    });
    close(r.diff, o.diff, "diff");
    close(r.ci[0], o.ci_lower, "ci lower");
    close(r.ci[1], o.ci_upper, "ci upper");
    close(r.z, o.z, "z");
    close(r.p, o.p, "p");
  },
  welch(i, o) {
    const r = welchTest(summarize(i.control as number[]), summarize(i.treatment as number[]), num(i.alpha));
    close(r.diff, o.diff, "diff");
    close(r.df, o.df, "df");
    close(r.t, o.t, "t");
    close(r.p, o.p, "p");
    close(r.ci[0], o.ci_lower, "ci lower");
    close(r.ci[1], o.ci_upper, "ci upper");
  },
  ratio(i, o) {
    const c = i.control as RatioArm;
    const t = i.treatment as RatioArm;
    const sc = summarizeRatio(c.m, c.d);
    const st = summarizeRatio(t.m, t.d);
    close(ratioEstimate(sc).ratio, o.ratio_control, "ratio control");
    close(ratioEstimate(sc).variance, o.var_control, "variance control");
    close(ratioEstimate(st).ratio, o.ratio_treatment, "ratio treatment");
    close(ratioEstimate(st).variance, o.var_treatment, "variance treatment");
    const r = ratioDifference(sc, st, num(i.alpha));
    close(r.diff, o.diff, "diff");
    close(r.se, o.se, "se");
    close(r.ci[0], o.ci_lower, "ci lower");
    close(r.ci[1], o.ci_upper, "ci upper");
    close(r.z, o.z, "z");
    close(r.p, o.p, "p");
  },
  lift_means(i, o) {
    const r = relativeLiftMeans(
      summarize(i.control as number[]),
      summarize(i.treatment as number[]),
      num(i.alpha),
    );
    checkLift(r, o);
  },
  lift_proportions(i, o) {
    checkLift(relativeLiftProportions(i.control as Arm, i.treatment as Arm, num(i.alpha)), o);
  },
  lift_ratios(i, o) {
    const c = i.control as RatioArm;
    const t = i.treatment as RatioArm;
    checkLift(relativeLiftRatios(summarizeRatio(c.m, c.d), summarizeRatio(t.m, t.d), num(i.alpha)), o);
  },
  srm(i, o) {
    const r = srmCheck(i.counts as number[], i.weights as number[]);
    close(r.chi2, o.chi2, "chi2");
    expect(r.df).toBe(o.df);
    close(r.p, o.p, "p");
    expect(r.flagged).toBe(o.flagged);
  },
  sequential_srm(i, o) {
    const steps = i.steps as number[][];
    const weights = i.weights as number[];
    const cumulative = weights.map(() => 0);
    let previousP = 1;
    const logBf: number[] = [];
    const ps: number[] = [];
    for (const step of steps) {
      step.forEach((x, k) => {
        cumulative[k] = (cumulative[k] as number) + x;
      });
      const r = sequentialSrm(cumulative, weights, { concentration: num(i.concentration), previousP });
      previousP = r.p;
      logBf.push(r.logBayesFactor);
      ps.push(r.p);
    }
    closeAll(logBf, o.log_bayes_factor, "log BF");
    closeAll(ps, o.p, "p");
  },
  holm(i, o) {
    closeAll(holmAdjust(i.p as number[]), o.adjusted, "adjusted");
    expect(holmReject(i.p as number[], 0.05)).toEqual(o.reject_05);
  },
  confidence_sequence(i, o) {
    const r = confidenceSequence({
      estimate: num(i.estimate),
      se: num(i.se),
      n: num(i.n),
      alpha: num(i.alpha),
      tuningN: num(i.tuning_n),
    });
    close(r.rho, o.rho, "rho");
    close(r.halfWidth, o.half_width, "half width");
    close(r.ci[0], o.lower, "lower");
    close(r.ci[1], o.upper, "upper");
    close(csWidthRatio(num(i.n), num(i.tuning_n), num(i.alpha)), o.width_ratio, "width ratio");
  },
  msprt(i, o) {
    const input = { estimate: num(i.estimate), se: num(i.se), tau2: num(i.tau2), theta0: num(i.theta0) };
    close(msprtLogLikelihoodRatio(input), o.log_lr, "log LR");
    close(msprtPValue({ ...input, previousP: num(i.previous_p) }), o.p, "p");
    // The interval is the set of nulls θ₀ not rejected, so it does not depend on the case's θ₀.
    const ci = msprtInterval({
      estimate: num(i.estimate),
      se: num(i.se),
      tau2: num(i.tau2),
      alpha: num(i.alpha),
    });
    close(ci[0], o.ci_lower, "ci lower");
    close(ci[1], o.ci_upper, "ci upper");
  },
  msprt_tau2(i, o) {
    close(msprtTau2(num(i.sigma2), num(i.horizon), num(i.alpha)), o.tau2, "tau2");
  },
  power_at(i, o) {
    close(powerAt(num(i.x), num(i.alpha)), o.power, "power");
  },
  sample_size_mean(i, o) {
    const r = sampleSizeMean(num(i.delta), {
      varianceControl: num(i.var_control),
      varianceTreatment: num(i.var_treatment),
      alpha: num(i.alpha),
      power: num(i.power),
    });
    close(r.exact, o.exact, "exact n");
    expect(r.perArm).toBe(o.per_arm);
  },
  mde_mean(i, o) {
    const r = mdeMean(num(i.n), {
      varianceControl: num(i.var_control),
      varianceTreatment: num(i.var_treatment),
      alpha: num(i.alpha),
      power: num(i.power),
    });
    close(r, o.mde, "mde");
  },
  sample_size_proportion(i, o) {
    const r = sampleSizeProportion(num(i.baseline), num(i.target), {
      alpha: num(i.alpha),
      power: num(i.power),
    });
    close(r.exact, o.exact, "exact n");
    expect(r.perArm).toBe(o.per_arm);
  },
  mde_proportion(i, o) {
    const r = mdeProportion(num(i.n), num(i.baseline), {
      alpha: num(i.alpha),
      power: num(i.power),
      direction: i.direction as "up" | "down",
    });
    if (o.mde === null) expect(r).toBeNull();
    else close(r as number, o.mde, "mde");
  },
  quantiles(i, o) {
    const values = i.values as number[];
    closeAll(quantiles(values, i.qs as number[]), o.quantiles, "quantiles");
    const qs = i.qs as number[];
    const expected = o.quantiles as number[];
    const p = latencyPercentiles(values);
    close(p.p50, expected[qs.indexOf(0.5)], "p50");
    close(p.p95, expected[qs.indexOf(0.95)], "p95");
  },
  log_ratio(i, o) {
    const r = logRatio(
      summarizeLog(i.control as number[]),
      summarizeLog(i.treatment as number[]),
      num(i.alpha),
    );
    close(r.ratio, o.ratio, "ratio");
    close(r.ci[0], o.ci_lower, "ci lower");
    close(r.ci[1], o.ci_upper, "ci upper");
    close(r.p, o.p, "p");
    close(r.welch.df, o.df, "df");
  },
};

function checkLift(r: ReturnType<typeof relativeLiftMeans>, o: Record<string, unknown>): void {
  close(r.lift, o.lift, "lift");
  close(r.se, o.se, "se");
  close(r.ci[0], o.ci_lower, "ci lower");
  close(r.ci[1], o.ci_upper, "ci upper");
  close(r.z, o.z, "z");
  close(r.p, o.p, "p");
}

describe("golden reference file", () => {
  it("has a handler for every section and every handler has its section", () => {
    expect(Object.keys(golden.sections).sort()).toEqual(Object.keys(handlers).sort());
  });
  it("has several cases per section", () => {
    for (const [key, section] of Object.entries(golden.sections)) {
      expect(section.cases.length, key).toBeGreaterThanOrEqual(2);
    }
  });
  it("records the library versions it was made with", () => {
    for (const lib of ["numpy", "scipy", "statsmodels"]) expect(golden.versions[lib]).toMatch(/^\d+\.\d+/);
  });
});

for (const [key, section] of Object.entries(golden.sections)) {
  describe(`${key} matches ${section.reference}`, () => {
    for (const c of section.cases) {
      it(c.name, () => {
        const handler = handlers[key];
        expect(handler, `no handler for ${key}`).toBeDefined();
        handler?.(c.input, c.output);
      });
    }
  });
}

afterAll(() => {
  console.log(
    `golden: worst relative error ${worstRelative.toExponential(2)} (${worstWhere}); ` +
      `reference libraries ${JSON.stringify(golden.versions)}`,
  );
});
