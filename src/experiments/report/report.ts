/**
 * The experiment report: per arm, units and calls, every metric with its interval, the comparison
 * of each treatment arm with the control (fixed-horizon test with Holm correction, relative lift,
 * always-valid interval and p-value), latency percentiles, the sample-ratio-mismatch check, the
 * units still needed for a chosen minimum detectable effect, and the fine-tune ROI. System-scoped
 * experiments are also reported per workflow run (cost and latency summed over the run) and per
 * agent.
 */
import type { Knex } from "knex";
import { effectiveWeights } from "../ramp.js";
import type { ExperimentView } from "../schemas.js";
import {
  breakEven,
  holmAdjust,
  type Interval,
  type RoiResult,
  ratioEstimate,
  type SrmResult,
  sampleSizeMean,
  sampleSizeProportion,
  sampleVariance,
  srmCheck,
} from "../stats/index.js";
import {
  type AgentBreakdown,
  aggregateAgents,
  aggregateArms,
  aggregateFeedback,
  unitsFirstSeenSince,
} from "./aggregate.js";
import {
  compareLogLatency,
  compareMean,
  compareProportion,
  compareRatio,
  type Direction,
  type MetricResult,
} from "./compare.js";

export type ReportOptions = {
  alpha: number;
  /** Minimum detectable effect, relative to the control's value (0.05 = 5%). */
  mde: number;
  power: number;
  /** One-off evaluation cost added to the training cost in the ROI. */
  evaluationCostUsd: number;
  /** N* of the confidence sequences (fixed for an experiment's life). */
  tuningN: number;
};

export const DEFAULT_REPORT_OPTIONS: ReportOptions = {
  alpha: 0.05,
  mde: 0.05,
  power: 0.8,
  evaluationCostUsd: 0,
  tuningN: 5000,
};

export type ArmSummary = {
  name: string;
  weight: number;
  versions: Record<string, number>;
  units: number;
  calls: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
};

export type PowerReport = {
  metric: string;
  mde_relative: number;
  control_value: number;
  units_per_arm: number;
  remaining: { arm: string; units: number }[];
} | null;

export type RoiReport = {
  arm: string;
  per: "call" | "workflow_run";
  training_cost_usd: number;
  evaluation_cost_usd: number;
  cost_control: number;
  cost_arm: number;
  observed_per_day: number | null;
} & RoiResult;

export type Report = {
  experiment: Pick<
    ExperimentView,
    | "id"
    | "name"
    | "status"
    | "scope"
    | "system"
    | "agent"
    | "unit"
    | "primary_metric"
    | "started_at"
    | "ended_at"
  >;
  generated_at: string;
  alpha: number;
  arms: ArmSummary[];
  /**
   * Units per arm against the weights traffic is split with now. During a ramp: the current
   * step's weights, and only the units first seen since the step began (`since`).
   */
  srm: (SrmResult & { counts: number[]; weights: number[]; since: string | null }) | null;
  metrics: MetricResult[];
  per_agent: AgentBreakdown[];
  power: PowerReport;
  roi: RoiReport[];
};

type MetricDef = { name: string; type: "boolean" | "float"; direction: Direction };

export async function buildReport(
  db: Knex,
  exp: ExperimentView,
  opts: ReportOptions = DEFAULT_REPORT_OPTIONS,
): Promise<Report> {
  const armNames = exp.arms.map((a) => a.name);
  // The split traffic gets now: during a ramp, its current step's (ramp.ts).
  const weights = effectiveWeights(
    exp.arms.map((a) => a.weight),
    exp.ramp,
    exp.ramp?.step,
  );
  const decisionNames = new Set(
    [exp.primary_metric, ...exp.secondary_metrics].filter((n): n is string => !!n),
  );
  // The aggregate queries are independent scans of the events: run them side by side (the
  // per-arm ones are two queries themselves), so a report costs about its longest scan.
  const [agg, perAgent, feedback] = await Promise.all([
    aggregateArms(db, exp.id),
    aggregateAgents(db, exp.id),
    // Declared metrics named only by guardrails are reported too (outside the Holm family).
    declaredMetrics(db, [...decisionNames, ...exp.guardrails.map((g) => String(g.metric))]).then((defs) =>
      Promise.all(defs.map(async (def) => ({ def, fb: await aggregateFeedback(db, exp.id, def.name) }))),
    ),
  ]);
  const o = { alpha: opts.alpha, treatments: Math.max(1, armNames.length - 1), tuningN: opts.tuningN };
  const pick = <T>(f: (a: NonNullable<ReturnType<typeof agg.get>>) => T) =>
    new Map([...agg.values()].map((a) => [a.arm, f(a)] as const));

  const metrics: MetricResult[] = [
    compareRatio(
      "error_rate",
      "lower",
      armNames,
      pick((a) => a.errors),
      o,
    ),
    compareRatio(
      "cost_usd_per_call",
      "lower",
      armNames,
      pick((a) => a.cost),
      o,
    ),
    compareRatio(
      "tokens_per_call",
      "lower",
      armNames,
      pick((a) => a.tokens),
      o,
    ),
    compareLogLatency(
      armNames,
      pick((a) => a.logLatency),
      o,
    ),
  ];
  if (exp.scope === "system" || exp.unit === "session") {
    metrics.push(
      compareMean(
        "cost_usd_per_run",
        "lower",
        armNames,
        pick((a) => a.costPerUnit),
        o,
      ),
      compareMean(
        "latency_ms_per_run",
        "lower",
        armNames,
        pick((a) => a.latencyPerUnit),
        o,
      ),
    );
  }
  for (const { def, fb } of feedback) {
    if (!fb) continue;
    let result: MetricResult;
    if (fb.level === "call") result = compareRatio(def.name, def.direction, armNames, fb.perArm, o);
    else {
      const binary = def.type === "boolean" && [...fb.binaryUnits.values()].every((b) => b !== null);
      result = binary
        ? compareProportion(
            def.name,
            def.direction,
            armNames,
            fb.binaryUnits as Map<string, { successes: number; n: number }>,
            o,
          )
        : compareMean(def.name, def.direction, armNames, fb.perArm, o);
    }
    metrics.push(result);
  }
  // Holm across treatment arms × the primary and secondary metrics (guardrail-style metrics stay
  // outside the family, as GrowthBook does).
  const family = metrics.filter((m) => decisionNames.has(m.name)).flatMap((m) => m.comparisons);
  const adjusted = holmAdjust(family.map((c) => c.p));
  family.forEach((c, i) => {
    c.p_adjusted = adjusted[i] ?? null;
  });

  const since = exp.ramp?.step_started_at ?? null;
  const sinceCounts = since ? await unitsFirstSeenSince(db, exp.id, since) : null;
  const counts = armNames.map((a) => (sinceCounts ? (sinceCounts.get(a) ?? 0) : (agg.get(a)?.units ?? 0)));
  // An arm with no share of traffic (a ramp at 100%) is not part of the allocation.
  const live = weights.flatMap((w, i) => (w > 0 ? [i] : []));
  const srm =
    live.length >= 2 && counts.reduce((s, n) => s + n, 0) > 0
      ? {
          ...srmCheck(
            live.map((i) => counts[i] as number),
            live.map((i) => weights[i] as number),
          ),
          counts,
          weights,
          since,
        }
      : null;

  return {
    experiment: {
      id: exp.id,
      name: exp.name,
      status: exp.status,
      scope: exp.scope,
      system: exp.system,
      agent: exp.agent,
      unit: exp.unit,
      primary_metric: exp.primary_metric,
      started_at: exp.started_at,
      ended_at: exp.ended_at,
    },
    generated_at: new Date().toISOString(),
    alpha: opts.alpha,
    arms: exp.arms.map((a, i) => {
      const g = agg.get(a.name);
      return {
        name: a.name,
        weight: weights[i] ?? 0,
        versions: a.versions,
        units: g?.units ?? 0,
        calls: g?.calls ?? 0,
        latency_p50_ms: g?.p50 ?? null,
        latency_p95_ms: g?.p95 ?? null,
      };
    }),
    srm,
    metrics,
    per_agent: perAgent,
    power: powerReport(exp, metrics, agg, opts),
    roi: await roiReport(db, exp, agg, opts),
  };
}

async function declaredMetrics(db: Knex, names: (string | null)[]): Promise<MetricDef[]> {
  const wanted = [...new Set(names.filter((n): n is string => !!n))];
  if (wanted.length === 0) return [];
  const rows = await db("metrics").whereIn("name", wanted).select("name", "type", "direction");
  return wanted.flatMap((n) => rows.filter((r) => r.name === n));
}

/** Units per arm still needed to detect a relative change of `mde` in the deciding metric. */
function powerReport(
  exp: ExperimentView,
  metrics: MetricResult[],
  agg: Awaited<ReturnType<typeof aggregateArms>>,
  opts: ReportOptions,
): PowerReport {
  const name =
    exp.primary_metric && metrics.some((m) => m.name === exp.primary_metric)
      ? exp.primary_metric
      : "cost_usd_per_call";
  const metric = metrics.find((m) => m.name === name);
  const control = metric?.arms[0];
  if (!metric || !control || control.estimate === null || control.estimate === 0 || control.n < 2)
    return null;
  const p0 = control.estimate;
  let perArm: number;
  try {
    if (metric.kind === "proportion") {
      const target = Math.min(0.999999, Math.max(1e-6, p0 * (1 + opts.mde)));
      perArm = sampleSizeProportion(p0, target, { alpha: opts.alpha, power: opts.power }).perArm;
    } else {
      const variance = unitVariance(metric, agg, exp.arms[0]?.name as string);
      if (!(variance > 0)) return null;
      perArm = sampleSizeMean(Math.abs(p0) * opts.mde, {
        varianceControl: variance,
        alpha: opts.alpha,
        power: opts.power,
      }).perArm;
    }
  } catch {
    return null;
  }
  return {
    metric: name,
    mde_relative: opts.mde,
    control_value: p0,
    units_per_arm: perArm,
    remaining: metric.arms.map((a) => ({ arm: a.arm, units: Math.max(0, perArm - a.n) })),
  };
}

/** Per-unit variance of the control's metric (for a ratio: n·Var(R̂), the delta-method analogue). */
function unitVariance(
  metric: MetricResult,
  agg: Awaited<ReturnType<typeof aggregateArms>>,
  control: string,
): number {
  const a = agg.get(control);
  if (!a) return 0;
  if (metric.name === "cost_usd_per_run") return sampleVariance(a.costPerUnit);
  if (metric.name === "latency_ms_per_run") return sampleVariance(a.latencyPerUnit);
  const ratio =
    metric.name === "error_rate" ? a.errors : metric.name === "tokens_per_call" ? a.tokens : a.cost;
  if (metric.kind === "ratio" && ratio.n >= 2 && ratio.sumD > 0)
    return ratioEstimate(ratio).variance * ratio.n;
  const ci = metric.arms[0]?.ci as Interval | null | undefined;
  const n = metric.arms[0]?.n ?? 0;
  return ci ? ((ci[1] - ci[0]) / (2 * 1.959963984540054)) ** 2 * n : 0;
}

/**
 * Fine-tune ROI of each treatment arm against the control: its training cost (the fine-tuned
 * versions it uses that the control does not) plus the evaluation cost, recovered by the cost
 * saved per call (per workflow run for system-scoped experiments), at the observed traffic rate.
 */
async function roiReport(
  db: Knex,
  exp: ExperimentView,
  agg: Awaited<ReturnType<typeof aggregateArms>>,
  opts: ReportOptions,
): Promise<RoiReport[]> {
  const control = exp.arms[0];
  const c = control ? agg.get(control.name) : undefined;
  // Without prices there is no cost to compare (unknown models have no cost, not a zero cost).
  if (!control || !c || c.units === 0 || c.pricedCalls === 0) return [];
  const perRun = exp.scope === "system";
  const all = [...agg.values()];
  const first = Math.min(...all.map((a) => a.firstAt?.getTime() ?? Number.POSITIVE_INFINITY));
  const last = Math.max(...all.map((a) => a.lastAt?.getTime() ?? 0));
  const days = Math.max((last - first) / 86_400_000, 1 / 1440);
  const volume = all.reduce((s, a) => s + (perRun ? a.units : a.calls), 0);
  const perDay = Number.isFinite(first) && volume > 0 ? volume / days : null;
  const costOf = (a: typeof c) =>
    perRun ? a.costPerUnit.sum / a.costPerUnit.n : a.cost.sumD > 0 ? a.cost.sumM / a.cost.sumD : 0;
  const out: RoiReport[] = [];
  for (const arm of exp.arms.slice(1)) {
    const t = agg.get(arm.name);
    const training = await trainingCost(db, exp.system, arm.versions, control.versions);
    if (!t || t.units === 0 || t.pricedCalls === 0 || training === null) continue;
    const r = breakEven({
      trainingCost: training,
      evaluationCost: opts.evaluationCostUsd,
      costPerCallBaseline: costOf(c),
      costPerCallFineTuned: costOf(t),
      ...(perDay !== null ? { callsPerDay: perDay } : {}),
    });
    out.push({
      arm: arm.name,
      per: perRun ? "workflow_run" : "call",
      training_cost_usd: training,
      evaluation_cost_usd: opts.evaluationCostUsd,
      cost_control: costOf(c),
      cost_arm: costOf(t),
      observed_per_day: perDay,
      ...r,
    });
  }
  return out;
}

/** Σ training cost of the arm's fine-tuned versions the control does not use; null if it has none. */
async function trainingCost(
  db: Knex,
  system: string,
  arm: Record<string, number>,
  control: Record<string, number>,
): Promise<number | null> {
  let total = 0;
  let fineTuned = 0;
  for (const [agent, n] of Object.entries(arm)) {
    if (control[agent] === n) continue;
    const v = await db("versions as v")
      .join("agents as a", "a.id", "v.agent_id")
      .join("systems as s", "s.id", "a.system_id")
      .where({ "s.name": system, "a.name": agent, "v.number": n })
      .first("v.kind", "v.training_cost_usd", "v.lineage");
    if (v?.kind !== "fine_tuned") continue;
    fineTuned++;
    total += v.training_cost_usd ?? 0;
  }
  return fineTuned > 0 ? total : null;
}
