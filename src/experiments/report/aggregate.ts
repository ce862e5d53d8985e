/**
 * Per-arm sufficient statistics of an experiment, computed in SQL so a report costs a few
 * aggregate queries whatever the event volume. Analysis is by *assigned* arm (intent-to-treat:
 * fallbacks stay in the arm they were assigned) and by *unit* (the key the assignment hashed):
 * per-call metrics are ratio metrics — Σ over a unit's calls ÷ its calls — whose variance comes
 * from the delta method over units.
 */
import type { Knex } from "knex";
import type { MeanSummary, RatioSummary } from "../stats/index.js";

/**
 * A call counts as an error when the gateway answered 5xx or 429 (the client did nothing wrong),
 * or when the assigned version failed and the champion answered instead: the arm is judged on its
 * own versions, so a fallback that saved the caller is still the arm's failure.
 */
const ERROR_SQL = "CASE WHEN status >= 500 OR status = 429 OR fallback THEN 1 ELSE 0 END";

export type ArmAggregate = {
  arm: string;
  units: number;
  calls: number;
  /** per unit: M = errors, D = calls */
  errors: RatioSummary;
  /** per unit: M = cost, D = calls with a known price */
  cost: RatioSummary;
  pricedCalls: number;
  tokens: RatioSummary;
  /** per unit (workflow run): Σ cost, Σ latency of its calls */
  costPerUnit: MeanSummary;
  latencyPerUnit: MeanSummary;
  /** per call: ln(latency ms) */
  logLatency: MeanSummary;
  p50: number | null;
  p95: number | null;
  firstAt: Date | null;
  lastAt: Date | null;
};

const num = (v: unknown) => Number(v ?? 0);
const ratio = (r: Record<string, unknown>, m: string): RatioSummary => ({
  n: num(r.n),
  sumM: num(r[`s_${m}`]),
  sumM2: num(r[`s_${m}2`]),
  sumD: num(r.s_calls),
  sumD2: num(r.s_calls2),
  sumMD: num(r[`s_${m}_calls`]),
});

export async function aggregateArms(db: Knex, experimentId: number): Promise<Map<string, ArmAggregate>> {
  // Two independent scans (per unit; per call, for latency), run side by side.
  const [perUnit, perCall] = await Promise.all([
    db.raw(
      `WITH units AS (
       SELECT arm, unit_key,
              count(*)::float8 AS calls,
              sum(${ERROR_SQL})::float8 AS errors,
              sum(coalesce(cost_usd, 0)) AS cost,
              -- Calls of an unpriced model have no cost (null, not 0): cost per call is over priced calls.
              sum(CASE WHEN cost_usd IS NULL THEN 0 ELSE 1 END)::float8 AS priced,
              sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))::float8 AS tokens,
              sum(coalesce(latency_ms, 0)) AS latency,
              min(at) AS first_at, max(at) AS last_at
         FROM inference_events
        WHERE experiment_id = ? AND arm IS NOT NULL AND unit_key IS NOT NULL
        GROUP BY arm, unit_key)
     SELECT arm, count(*) AS n,
            sum(calls) AS s_calls, sum(calls * calls) AS s_calls2,
            sum(errors) AS s_errors, sum(errors * errors) AS s_errors2, sum(errors * calls) AS s_errors_calls,
            sum(cost) AS s_cost, sum(cost * cost) AS s_cost2, sum(cost * priced) AS s_cost_priced,
            sum(priced) AS s_priced, sum(priced * priced) AS s_priced2,
            sum(tokens) AS s_tokens, sum(tokens * tokens) AS s_tokens2, sum(tokens * calls) AS s_tokens_calls,
            sum(latency) AS s_latency, sum(latency * latency) AS s_latency2,
            min(first_at) AS first_at, max(last_at) AS last_at
       FROM units GROUP BY arm`,
      [experimentId],
    ),
    db.raw(
      `SELECT arm, count(*) AS n,
            sum(ln(greatest(latency_ms, 0.001))) AS s_log,
            sum(ln(greatest(latency_ms, 0.001)) ^ 2) AS s_log2,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
       FROM inference_events
      WHERE experiment_id = ? AND arm IS NOT NULL AND latency_ms IS NOT NULL
      GROUP BY arm`,
      [experimentId],
    ),
  ]);
  const calls = new Map<string, Record<string, unknown>>(
    perCall.rows.map((r: Record<string, unknown>) => [r.arm, r]),
  );
  const out = new Map<string, ArmAggregate>();
  for (const r of perUnit.rows as Record<string, unknown>[]) {
    const c = calls.get(r.arm as string) ?? {};
    out.set(r.arm as string, {
      arm: r.arm as string,
      units: num(r.n),
      calls: num(r.s_calls),
      errors: ratio(r, "errors"),
      cost: {
        n: num(r.n),
        sumM: num(r.s_cost),
        sumM2: num(r.s_cost2),
        sumD: num(r.s_priced),
        sumD2: num(r.s_priced2),
        sumMD: num(r.s_cost_priced),
      },
      pricedCalls: num(r.s_priced),
      tokens: ratio(r, "tokens"),
      costPerUnit: { n: num(r.n), sum: num(r.s_cost), sumSq: num(r.s_cost2) },
      latencyPerUnit: { n: num(r.n), sum: num(r.s_latency), sumSq: num(r.s_latency2) },
      logLatency: { n: num(c.n), sum: num(c.s_log), sumSq: num(c.s_log2) },
      p50: c.p50 === undefined || c.p50 === null ? null : Number(c.p50),
      p95: c.p95 === undefined || c.p95 === null ? null : Number(c.p95),
      firstAt: r.first_at ? new Date(r.first_at as string) : null,
      lastAt: r.last_at ? new Date(r.last_at as string) : null,
    });
  }
  return out;
}

/**
 * Units per arm whose first call in the experiment came at or after `since` (a ramp step's
 * start): they were all assigned with that step's weights, which the sample-ratio check needs.
 */
export async function unitsFirstSeenSince(
  db: Knex,
  experimentId: number,
  since: string,
): Promise<Map<string, number>> {
  const rows = await db.raw(
    `WITH first_seen AS (
       SELECT unit_key, min(at) AS first_at FROM inference_events
        WHERE experiment_id = ? AND arm IS NOT NULL AND unit_key IS NOT NULL
        GROUP BY unit_key)
     SELECT e.arm, count(DISTINCT e.unit_key) AS n
       FROM inference_events e JOIN first_seen f ON f.unit_key = e.unit_key
      WHERE e.experiment_id = ? AND e.arm IS NOT NULL AND f.first_at >= ?
      GROUP BY e.arm`,
    [experimentId, experimentId, since],
  );
  return new Map((rows.rows as Record<string, unknown>[]).map((r) => [r.arm as string, num(r.n)]));
}

export type FeedbackAggregate =
  /** Workflow-run feedback: one value per unit (the mean when a run got several). */
  | {
      level: "session";
      perArm: Map<string, MeanSummary>;
      binaryUnits: Map<string, { successes: number; n: number } | null>;
    }
  /** Call feedback: per unit M = Σ values, D = calls with feedback. */
  | { level: "call"; perArm: Map<string, RatioSummary> };

/** Feedback on `metric` attributed to arms, at the level it was given at (run if any, else call). */
export async function aggregateFeedback(
  db: Knex,
  experimentId: number,
  metric: string,
): Promise<FeedbackAggregate | null> {
  const sessions = await db.raw(
    `WITH runs AS (
       SELECT DISTINCT arm, unit_key, session_id FROM inference_events
        WHERE experiment_id = ? AND arm IS NOT NULL AND session_id IS NOT NULL),
     per_unit AS (
       SELECT r.arm, r.unit_key, avg(f.value) AS v
         FROM feedback f JOIN runs r ON r.session_id = f.session_id
        WHERE f.metric = ? AND f.session_id IS NOT NULL
        GROUP BY r.arm, r.unit_key)
     SELECT arm, count(*) AS n, sum(v) AS s, sum(v * v) AS s2,
            sum(CASE WHEN v = 0 OR v = 1 THEN 1 ELSE 0 END) AS binary_units
       FROM per_unit GROUP BY arm`,
    [experimentId, metric],
  );
  if (sessions.rows.length > 0) {
    const perArm = new Map<string, MeanSummary>();
    const binaryUnits = new Map<string, { successes: number; n: number } | null>();
    for (const r of sessions.rows as Record<string, unknown>[]) {
      const n = num(r.n);
      perArm.set(r.arm as string, { n, sum: num(r.s), sumSq: num(r.s2) });
      binaryUnits.set(
        r.arm as string,
        num(r.binary_units) === n ? { successes: Math.round(num(r.s)), n } : null,
      );
    }
    return { level: "session", perArm, binaryUnits };
  }
  const callRows = await db.raw(
    `WITH per_unit AS (
       SELECT e.arm, e.unit_key, sum(f.value) AS m, count(*)::float8 AS d
         FROM feedback f JOIN inference_events e ON e.request_id = f.request_id
        WHERE f.metric = ? AND e.experiment_id = ? AND e.arm IS NOT NULL AND e.unit_key IS NOT NULL
        GROUP BY e.arm, e.unit_key)
     SELECT arm, count(*) AS n, sum(m) AS sm, sum(m * m) AS sm2, sum(d) AS sd, sum(d * d) AS sd2, sum(m * d) AS smd
       FROM per_unit GROUP BY arm`,
    [metric, experimentId],
  );
  if (callRows.rows.length === 0) return null;
  const perArm = new Map<string, RatioSummary>();
  for (const r of callRows.rows as Record<string, unknown>[]) {
    perArm.set(r.arm as string, {
      n: num(r.n),
      sumM: num(r.sm),
      sumM2: num(r.sm2),
      sumD: num(r.sd),
      sumD2: num(r.sd2),
      sumMD: num(r.smd),
    });
  }
  return { level: "call", perArm };
}

export type AgentBreakdown = {
  arm: string;
  agent: string;
  calls: number;
  error_rate: number;
  cost_per_call: number | null;
  tokens_per_call: number;
  latency_p50_ms: number | null;
  fallbacks: number;
};

/** Per (arm, agent): how each agent of a system-scoped experiment fares in each arm. */
export async function aggregateAgents(db: Knex, experimentId: number): Promise<AgentBreakdown[]> {
  const rows = await db.raw(
    `SELECT arm, agent, count(*) AS calls,
            avg(${ERROR_SQL}) AS error_rate,
            avg(cost_usd) AS cost_per_call,
            avg(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) AS tokens_per_call,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
            sum(CASE WHEN fallback THEN 1 ELSE 0 END) AS fallbacks
       FROM inference_events WHERE experiment_id = ? AND arm IS NOT NULL
      GROUP BY arm, agent ORDER BY arm, agent`,
    [experimentId],
  );
  return (rows.rows as Record<string, unknown>[]).map((r) => ({
    arm: r.arm as string,
    agent: r.agent as string,
    calls: num(r.calls),
    error_rate: num(r.error_rate),
    cost_per_call: r.cost_per_call === null ? null : num(r.cost_per_call),
    tokens_per_call: num(r.tokens_per_call),
    latency_p50_ms: r.p50 === null ? null : num(r.p50),
    fallbacks: num(r.fallbacks),
  }));
}
