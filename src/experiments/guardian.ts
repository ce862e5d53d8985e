/**
 * The guardian: a background job that, every `AGENTGATE_GUARDRAIL_INTERVAL_MS` (default 30 s),
 * checks each running experiment that has guardrails or a ramp. Every replica runs it; a row lock
 * makes sure only one acts on a decision, the others find the experiment already changed.
 *
 * One check: build the experiment's report, add the guardrail-only latency statistics (per-unit
 * log latency; share of calls slower than the pooled p95), evaluate the guardrails
 * (guardrails.ts), store the verdict in `last_check`/`last_check_at`, then:
 *
 * - breach → automatic rollback, in one transaction that first re-reads the experiment under a
 *   row lock and does nothing unless it is still running: status `stopped`, `end_reason`
 *   "guardrail breach: …", the control arm's versions become the champions of their agents where
 *   they are not already (audited alias moves, action `auto_rollback`), an audit entry
 *   `experiment.auto_rollback` with the evidence (metric, arm, limit, interval, α, units), and a
 *   config-changed NOTIFY, so every replica's routing table drops the experiment and its traffic
 *   goes to the champions, i.e. the control. After the commit, `agentgate_auto_rollbacks_total`
 *   is incremented and one warn line says why. Pins are left alone (a pin outranks experiments).
 * - ramp: a step lasts at least `hold_minutes`; the next step is taken at the first check after
 *   that at which every guardrail is "ok" (enough data, no breach) and the sample-ratio check is
 *   not flagged. "insufficient" or an SRM flag holds the ramp at its step (never rolls back). Each
 *   step is audited (`experiment.ramp`, with the check that allowed it) and NOTIFYed; starting the
 *   experiment enters step 0 (audited by the service); resuming a paused one restarts the hold.
 *   After the last step the treatment share stays there until the experiment is stopped or
 *   promoted. The routing table and the report's SRM check use the step's weights (ramp.ts); the
 *   SRM check counts only units first seen since the step began, since earlier units were
 *   assigned with other weights. Comparisons use all units of the experiment, as the report does:
 *   a unit moved from the control to a treatment by a step counts in both arms, and a trend over
 *   time is confounded with the growing treatment share — hold steps long enough to smooth it.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import type { Metrics } from "../metrics.js";
import { Periodic } from "../periodic.js";
import { CHAMPION, moveAlias } from "../registry/aliases.js";
import { findAgent, findVersion } from "../registry/lookup.js";
import { agentRef } from "../registry/names.js";
import {
  evaluateGuardrails,
  type GuardrailCheck,
  LOG_LATENCY_SOURCE,
  P95_EXCEEDANCE_SOURCE,
} from "./guardrails.js";
import { rampPercent } from "./ramp.js";
import { compareRatio, type MetricResult } from "./report/compare.js";
import { buildReport, DEFAULT_REPORT_OPTIONS } from "./report/report.js";
import { type ExperimentView, type GuardrailSpec, guardrailInput } from "./schemas.js";
import type { ExperimentService } from "./service.js";
import type { RatioSummary } from "./stats/index.js";

/** Who the audit log says acted (not a token: token names cannot contain ':'). */
export const GUARDIAN_ACTOR: Actor = { name: "system:guardian", scopes: ["admin"] };

export type GuardianOptions = {
  /** Between sweeps; 0 = never on a timer (`sweep()` still works). */
  intervalMs: number;
};

export type CheckOutcome = {
  experiment: number;
  action: "none" | "rolled_back" | "ramped" | "skipped" | "error";
  check: GuardrailCheck | null;
};

export class Guardian {
  private readonly job: Periodic<CheckOutcome[]>;
  /** Completed sweeps (tests wait on it). */
  sweeps = 0;

  constructor(
    private readonly db: Knex,
    private readonly experiments: ExperimentService,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
    opts: GuardianOptions,
  ) {
    this.job = new Periodic(() => this.sweepOnce().finally(() => this.sweeps++), {
      intervalMs: opts.intervalMs,
      onError: (err) => log.warn({ err: String(err) }, "guardrail check failed; will retry"),
    });
  }

  start(): void {
    this.job.start();
  }

  /** Stops the timer and waits for a sweep in progress (before the database closes). */
  stop(): Promise<void> {
    return this.job.stop();
  }

  /** One pass over the running experiments; a caller that finds a pass in progress joins it. */
  sweep(): Promise<CheckOutcome[]> {
    return this.job.run();
  }

  private get stopped(): boolean {
    return this.job.stopped;
  }

  private async sweepOnce(): Promise<CheckOutcome[]> {
    if (this.stopped) return [];
    let ids: number[];
    try {
      ids = await this.db("experiments")
        .where({ status: "running" })
        .where((q) => q.whereRaw("jsonb_array_length(guardrails) > 0").orWhereNotNull("ramp"))
        .orderBy("id")
        .pluck("id");
    } catch (err) {
      this.log.warn({ err: String(err) }, "guardrail check: cannot list running experiments");
      return [];
    }
    const out: CheckOutcome[] = [];
    for (const id of ids) {
      if (this.stopped) break;
      try {
        out.push(await this.check(id));
      } catch (err) {
        this.log.warn({ err: String(err), experiment: id }, "guardrail check failed; will retry");
        out.push({ experiment: id, action: "error", check: null });
      }
    }
    return out;
  }

  /** Checks one experiment and acts on the verdict. */
  async check(id: number): Promise<CheckOutcome> {
    const view = await this.experiments.get(id);
    if (view.status !== "running") return { experiment: id, action: "skipped", check: null };
    const specs: GuardrailSpec[] = [];
    for (const g of view.guardrails) {
      const parsed = guardrailInput.safeParse(g);
      if (parsed.success) specs.push(parsed.data);
      else this.log.warn({ experiment: id, guardrail: g }, "guardrail check: ignoring an invalid guardrail");
    }
    const report = await buildReport(this.db, view, DEFAULT_REPORT_OPTIONS);
    report.metrics.push(...(await latencyGuardrailMetrics(this.db, view, specs)));
    const check = evaluateGuardrails(report, specs, {
      alpha: view.guardrail_alpha,
      tuningN: DEFAULT_REPORT_OPTIONS.tuningN,
    });
    if (check.status === "breach") {
      const acted = await this.rollBack(view, check);
      return { experiment: id, action: acted ? "rolled_back" : "skipped", check };
    }
    let ramped: { from: number; to: number } | null = null;
    if (view.ramp && check.status === "ok" && !check.srm_flagged)
      ramped = await this.advanceRamp(view, check);
    await this.db("experiments")
      .where({ id, status: "running" })
      .update({
        last_check: JSON.stringify(stored(check, view, ramped)),
        last_check_at: this.db.fn.now(),
      });
    return { experiment: id, action: ramped ? "ramped" : "none", check };
  }

  private async rollBack(view: ExperimentView, check: GuardrailCheck): Promise<boolean> {
    const id = view.id;
    const reason = truncate(`guardrail breach: ${check.breaches.map((b) => b.evidence).join("; ")}`);
    const control = view.arms[0];
    const champions = await this.db.transaction(async (trx) => {
      const row = await trx("experiments").where({ id }).forUpdate().first("status");
      // Another replica (or a person) got there first.
      if (row?.status !== "running") return null;
      await trx("experiments")
        .where({ id })
        .update({
          status: "stopped",
          ended_at: trx.fn.now(),
          end_reason: reason,
          last_check: JSON.stringify(stored(check, view, null)),
          last_check_at: trx.fn.now(),
        });
      // Traffic returns to the control: its versions become the champions where they are not.
      const moved: { agent: string; from: number | null; to: number }[] = [];
      for (const agent of Object.keys(control?.versions ?? {}).sort()) {
        const a = await findAgent(trx, view.system, agent, { lock: true });
        const ref = agentRef(view.system, agent);
        const to = await findVersion(trx, a, ref, control?.versions[agent] as number);
        const current = await trx("aliases").where({ agent_id: a.id, name: CHAMPION }).first("version_id");
        if (current?.version_id === to.id) continue;
        const from = await moveAlias(trx, GUARDIAN_ACTOR, {
          agent: a,
          ref,
          alias: CHAMPION,
          to,
          reason: `experiment ${id} (${view.name}) rolled back to its control arm '${control?.name}'`,
          action: "auto_rollback",
        });
        moved.push({ agent, from, to: to.number });
      }
      await recordAudit(trx, {
        actor: GUARDIAN_ACTOR.name,
        action: "experiment.auto_rollback",
        objectType: "experiment",
        objectKey: String(id),
        before: { status: "running", ramp: view.ramp },
        after: {
          status: "stopped",
          control: control?.name ?? null,
          champions_moved: moved,
          alpha: check.alpha,
          comparisons: check.comparisons,
          srm_flagged: check.srm_flagged,
          breaches: check.breaches,
        },
        reason,
      });
      await this.onChange(trx);
      return moved;
    });
    if (!champions) return false;
    this.metrics.autoRollbacksTotal.inc({
      system: view.system,
      agent:
        view.agent ??
        Object.keys(control?.versions ?? {})
          .sort()
          .join(","),
      experiment: view.name,
    });
    this.log.warn(
      {
        experiment: id,
        name: view.name,
        system: view.system,
        agent: view.agent,
        breaches: check.breaches.map((b) => ({
          arm: b.arm,
          metric: b.metric,
          limit: b.limit,
          observed: b.observed,
          interval: b.interval,
        })),
        champions_moved: champions,
      },
      `experiment ${id} (${view.name}) rolled back to its control: ${reason}`,
    );
    return true;
  }

  private async advanceRamp(
    view: ExperimentView,
    check: GuardrailCheck,
  ): Promise<{ from: number; to: number } | null> {
    const ramp = view.ramp;
    if (!ramp || ramp.step === null || ramp.step >= ramp.steps.length - 1) return null;
    const from = ramp.step;
    const to = from + 1;
    const done = await this.db.transaction(async (trx) => {
      const res = await trx.raw(
        `SELECT status, ramp_step, ramp_step_at <= now() - (?::float8 * interval '1 second') AS due
           FROM experiments WHERE id = ? FOR UPDATE`,
        [ramp.hold_minutes * 60, view.id],
      );
      const row = res.rows[0] as { status: string; ramp_step: number | null; due: boolean } | undefined;
      // Still running, at the step this check saw, and held long enough (another replica may have
      // stepped already).
      if (row?.status !== "running" || row.ramp_step !== from || !row.due) return false;
      await trx("experiments").where({ id: view.id }).update({ ramp_step: to, ramp_step_at: trx.fn.now() });
      await recordAudit(trx, {
        actor: GUARDIAN_ACTOR.name,
        action: "experiment.ramp",
        objectType: "experiment",
        objectKey: String(view.id),
        before: { step: from, percent: rampPercent(ramp, from) },
        after: {
          step: to,
          percent: rampPercent(ramp, to),
          check: { status: check.status, srm_flagged: check.srm_flagged, results: check.results },
        },
        reason: `guardrails held for ${ramp.hold_minutes} min at ${rampPercent(ramp, from)}%`,
      });
      await this.onChange(trx);
      return true;
    });
    if (!done) return null;
    this.log.info(
      { experiment: view.id, name: view.name, step: to, percent: rampPercent(ramp, to) },
      `experiment ${view.id} (${view.name}) ramped to ${rampPercent(ramp, to)}% of traffic`,
    );
    return { from, to };
  }
}

function truncate(s: string, max = 4000): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** What `last_check` keeps: the verdict, every (guardrail, arm) result, and the ramp's state. */
function stored(check: GuardrailCheck, view: ExperimentView, ramped: { from: number; to: number } | null) {
  const ramp = view.ramp;
  let rampState: Record<string, unknown> | null = null;
  if (ramp) {
    const step = ramped ? ramped.to : ramp.step;
    const last = step !== null && step >= ramp.steps.length - 1;
    rampState = {
      step,
      percent: rampPercent(ramp, step),
      ...(ramped ? { advanced_from: ramped.from } : {}),
      held_because: ramped
        ? null
        : last
          ? "last step"
          : check.status !== "ok"
            ? `guardrails ${check.status}`
            : check.srm_flagged
              ? "sample ratio mismatch"
              : `hold time (${ramp.hold_minutes} min) not over`,
    };
  }
  return { ...check, checked_at: new Date().toISOString(), ramp: rampState };
}

/**
 * Latency statistics for guardrails, per unit so calls of one run stay together (delta method):
 * Σ ln(latency) over calls (its ratio to calls is the log of the geometric mean), and the number
 * of calls slower than the pooled p95 of all arms.
 */
export async function latencyGuardrailMetrics(
  db: Knex,
  view: ExperimentView,
  specs: readonly GuardrailSpec[],
): Promise<MetricResult[]> {
  const wantLog = specs.some((g) => g.metric === "latency_geomean_ms");
  const wantP95 = specs.some(
    (g) =>
      g.metric === "latency_p95_ms" &&
      g.max === undefined &&
      g.min === undefined &&
      g.max_increase === undefined &&
      g.max_decrease === undefined,
  );
  if (!wantLog && !wantP95) return [];
  const res = await db.raw(
    `WITH q AS (
       SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS t
         FROM inference_events
        WHERE experiment_id = ? AND arm IS NOT NULL AND latency_ms IS NOT NULL),
     units AS (
       SELECT e.arm, e.unit_key, count(*)::float8 AS calls,
              sum(ln(greatest(e.latency_ms, 0.001))) AS lg,
              sum(CASE WHEN e.latency_ms > q.t THEN 1 ELSE 0 END)::float8 AS slow
         FROM inference_events e CROSS JOIN q
        WHERE e.experiment_id = ? AND e.arm IS NOT NULL AND e.unit_key IS NOT NULL
          AND e.latency_ms IS NOT NULL
        GROUP BY e.arm, e.unit_key)
     SELECT arm, count(*) AS n, sum(calls) AS s_calls, sum(calls * calls) AS s_calls2,
            sum(lg) AS s_lg, sum(lg * lg) AS s_lg2, sum(lg * calls) AS s_lg_calls,
            sum(slow) AS s_slow, sum(slow * slow) AS s_slow2, sum(slow * calls) AS s_slow_calls
       FROM units GROUP BY arm`,
    [view.id, view.id],
  );
  const num = (v: unknown) => Number(v ?? 0);
  const log = new Map<string, RatioSummary>();
  const slow = new Map<string, RatioSummary>();
  for (const r of res.rows as Record<string, unknown>[]) {
    const base = { n: num(r.n), sumD: num(r.s_calls), sumD2: num(r.s_calls2) };
    log.set(r.arm as string, { ...base, sumM: num(r.s_lg), sumM2: num(r.s_lg2), sumMD: num(r.s_lg_calls) });
    slow.set(r.arm as string, {
      ...base,
      sumM: num(r.s_slow),
      sumM2: num(r.s_slow2),
      sumMD: num(r.s_slow_calls),
    });
  }
  const arms = view.arms.map((a) => a.name);
  const o = {
    alpha: DEFAULT_REPORT_OPTIONS.alpha,
    treatments: Math.max(1, arms.length - 1),
    tuningN: DEFAULT_REPORT_OPTIONS.tuningN,
  };
  const out: MetricResult[] = [];
  if (wantLog) out.push(compareRatio(LOG_LATENCY_SOURCE, "lower", arms, log, o));
  if (wantP95) out.push(compareRatio(P95_EXCEEDANCE_SOURCE, "lower", arms, slow, o));
  return out;
}
