/**
 * Experiments: definition and lifecycle (draft → running ⇄ paused → stopped). Analysis and
 * promotion live elsewhere; this module decides who is in which experiment.
 *
 * Agent-scoped experiments have one agent; system-scoped ones map several agents of a system to
 * versions in every arm, so one workflow run gets the same arm on every agent. Every arm must
 * name a version for every covered agent: an arm is a complete, explicit configuration. At most
 * one running experiment covers an agent; starting an overlapping one is refused.
 */
import { randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound, uniqueName } from "../errors.js";
import { findAgent, findSystem, iso } from "../registry/lookup.js";
import { guardrailProblem, isGuardrailBuiltIn } from "./guardrails.js";
import { assertKnownMetrics } from "./metrics.js";
import { type Ramp, rampPercent } from "./ramp.js";
import {
  DEFAULT_GUARDRAIL_ALPHA,
  type ExperimentCreate,
  type ExperimentStatus,
  type ExperimentView,
  type GuardrailSpec,
} from "./schemas.js";

type ExperimentRow = {
  id: number;
  name: string;
  system_id: number;
  agent_id: number | null;
  unit: ExperimentView["unit"];
  salt: string;
  status: ExperimentStatus;
  primary_metric: string | null;
  secondary_metrics: string[];
  guardrails: Record<string, unknown>[];
  guardrail_alpha: number;
  ramp: Ramp | null;
  ramp_step: number | null;
  ramp_step_at: Date | null;
  last_check: Record<string, unknown> | null;
  last_check_at: Date | null;
  fallback_to_champion: boolean;
  description: string | null;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  end_reason: string | null;
};

const TRANSITIONS: Record<"start" | "pause" | "stop", ExperimentStatus[]> = {
  start: ["draft", "paused"],
  pause: ["running"],
  stop: ["draft", "running", "paused"],
};

export class ExperimentService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async create(actor: Actor, input: ExperimentCreate): Promise<ExperimentView> {
    return uniqueName("experiment", input.name, () =>
      this.db.transaction(async (trx) => {
        // Every metric named must be declared or built in.
        await assertKnownMetrics(trx, [
          ...(input.primary_metric ? [["primary_metric", input.primary_metric] as const] : []),
          ...input.secondary_metrics.map((m, i) => [`secondary_metrics.${i}`, m] as const),
          ...input.guardrails.map((g, i) => [`guardrails.${i}.metric`, g.metric] as const),
        ]);
        await this.checkGuardrails(trx, input);
        const sys = await findSystem(trx, input.system);
        const covered = Object.keys(input.arms[0]?.versions ?? {}).sort();
        if (input.agent && (covered.length !== 1 || covered[0] !== input.agent)) {
          throw new AppError(
            "invalid_request",
            `arms: an agent-scoped experiment's arms must each name exactly agent '${input.agent}'`,
            "arms",
          );
        }
        for (const arm of input.arms) {
          const agents = Object.keys(arm.versions).sort();
          if (agents.join(",") !== covered.join(",")) {
            throw new AppError(
              "invalid_request",
              `arms: every arm must name versions for the same agents (${covered.join(", ")}); arm '${arm.name}' names ${agents.join(", ")}`,
              "arms",
            );
          }
        }
        const agentRows = new Map<string, number>();
        for (const name of covered) agentRows.set(name, (await findAgent(trx, input.system, name)).id);
        const versionIds = new Map<string, number>();
        for (const arm of input.arms) {
          for (const [agent, n] of Object.entries(arm.versions)) {
            const v = await trx("versions")
              .where({ agent_id: agentRows.get(agent), number: n })
              .first("id");
            if (!v)
              throw notFound(
                "version_not_found",
                `version ${n} of '${input.system}/${agent}' (arm '${arm.name}')`,
              );
            versionIds.set(`${arm.name}/${agent}`, v.id);
          }
        }
        const [exp] = await trx("experiments")
          .insert({
            name: input.name,
            system_id: sys.id,
            agent_id: input.agent ? agentRows.get(input.agent) : null,
            unit: input.unit,
            salt: randomBytes(8).toString("hex"),
            primary_metric: input.primary_metric ?? null,
            secondary_metrics: JSON.stringify(input.secondary_metrics),
            guardrails: JSON.stringify(input.guardrails),
            guardrail_alpha: input.guardrail_alpha ?? DEFAULT_GUARDRAIL_ALPHA,
            ramp: input.ramp ? JSON.stringify(input.ramp) : null,
            fallback_to_champion: input.fallback_to_champion,
            description: input.description ?? null,
            created_by: actor.name,
          })
          .returning("*");
        for (const [position, arm] of input.arms.entries()) {
          const [armRow] = await trx("experiment_arms")
            .insert({ experiment_id: exp.id, name: arm.name, position, weight: arm.weight })
            .returning("id");
          await trx("experiment_arm_versions").insert(
            Object.keys(arm.versions).map((agent) => ({
              arm_id: armRow.id,
              agent_id: agentRows.get(agent),
              version_id: versionIds.get(`${arm.name}/${agent}`),
            })),
          );
        }
        const view = await this.presentIn(trx, exp);
        await recordAudit(trx, {
          actor: actor.name,
          action: "experiment.create",
          objectType: "experiment",
          objectKey: String(exp.id),
          after: { name: view.name, system: view.system, agent: view.agent, arms: view.arms },
        });
        return view;
      }),
    );
  }

  async get(id: number): Promise<ExperimentView> {
    return this.presentIn(this.db, await this.find(this.db, id));
  }

  async list(filter: { status?: ExperimentStatus; system?: string }): Promise<ExperimentView[]> {
    const q = this.db("experiments as e")
      .join("systems as s", "s.id", "e.system_id")
      .select("e.*")
      .orderBy("e.id", "desc");
    if (filter.status) q.where("e.status", filter.status);
    if (filter.system) q.where("s.name", filter.system);
    const rows: ExperimentRow[] = await q;
    return Promise.all(rows.map((r) => this.presentIn(this.db, r)));
  }

  start(actor: Actor, id: number): Promise<ExperimentView> {
    return this.transition(actor, id, "start", "running", async (trx, exp) => {
      const agents = await this.coveredAgents(trx, exp.id);
      // Lock the covered agents (in id order, so concurrent starts cannot deadlock) before checking
      // for overlap: two overlapping experiments started at once cannot both pass the check.
      await trx("agents").whereIn("id", agents).orderBy("id").forUpdate().select("id");
      const overlap = await trx("experiments as e")
        .join("experiment_arms as a", "a.experiment_id", "e.id")
        .join("experiment_arm_versions as av", "av.arm_id", "a.id")
        .where("e.status", "running")
        .whereNot("e.id", exp.id)
        .whereIn("av.agent_id", agents)
        .first("e.id", "e.name");
      if (overlap) {
        throw new AppError(
          "experiment_conflict",
          `experiment '${overlap.name}' (${overlap.id}) is already running on an agent this one covers; stop or pause it first`,
        );
      }
      // A ramp starts at its first step; a resumed one stays at its step and holds it anew.
      const ramp = exp.ramp ? { ramp_step: exp.ramp_step ?? 0, ramp_step_at: trx.fn.now() } : {};
      if (exp.ramp && exp.ramp_step === null) {
        await recordAudit(trx, {
          actor: actor.name,
          action: "experiment.ramp",
          objectType: "experiment",
          objectKey: String(exp.id),
          before: { step: null, percent: null },
          after: { step: 0, percent: rampPercent(exp.ramp, 0) },
          reason: "ramp starts with the experiment",
        });
      }
      return { started_at: exp.started_at ?? trx.fn.now(), ...ramp };
    });
  }

  /** Each guardrail's limits must fit its metric's direction (guardrails.ts has the rules). */
  private async checkGuardrails(trx: Knex.Transaction, input: ExperimentCreate): Promise<void> {
    const perRun = !input.agent || input.unit === "session";
    for (const [i, g] of input.guardrails.entries()) {
      let direction: "higher" | "lower" = "lower";
      if (!isGuardrailBuiltIn(g.metric)) {
        const m = await trx("metrics").where({ name: g.metric }).first("direction");
        if (!m)
          throw new AppError(
            "invalid_request",
            `guardrails.${i}.metric: unknown metric '${g.metric}': declare it first (POST /api/v1/metrics) or use a built-in one`,
            `guardrails.${i}.metric`,
          );
        direction = m.direction;
      }
      const problem = guardrailProblem(g as GuardrailSpec, direction, perRun);
      if (problem) {
        const field = `guardrails.${i}.${problem[0]}`;
        throw new AppError("invalid_request", `${field}: ${problem[1]}`, field);
      }
    }
  }

  pause(actor: Actor, id: number): Promise<ExperimentView> {
    return this.transition(actor, id, "pause", "paused", async () => ({}));
  }

  stop(actor: Actor, id: number, reason?: string | null): Promise<ExperimentView> {
    return this.transition(
      actor,
      id,
      "stop",
      "stopped",
      async (trx) => ({ ended_at: trx.fn.now(), end_reason: reason ?? "stopped" }),
      reason,
    );
  }

  private async transition(
    actor: Actor,
    id: number,
    verb: keyof typeof TRANSITIONS,
    to: ExperimentStatus,
    extra: (trx: Knex.Transaction, exp: ExperimentRow) => Promise<Record<string, unknown>>,
    reason?: string | null,
  ): Promise<ExperimentView> {
    return this.db.transaction(async (trx) => {
      const exp = await this.find(trx, id, true);
      if (!TRANSITIONS[verb].includes(exp.status)) {
        throw new AppError("invalid_state", `cannot ${verb} experiment ${id}: it is ${exp.status}`);
      }
      const [updated] = await trx("experiments")
        .where({ id })
        .update({ status: to, ...(await extra(trx, exp)) })
        .returning("*");
      await recordAudit(trx, {
        actor: actor.name,
        action: `experiment.${verb}`,
        objectType: "experiment",
        objectKey: String(id),
        before: { status: exp.status },
        after: { status: to },
        reason: reason ?? null,
      });
      await this.onChange(trx);
      return this.presentIn(trx, updated);
    });
  }

  private async coveredAgents(q: Knex | Knex.Transaction, experimentId: number): Promise<number[]> {
    return q("experiment_arm_versions as av")
      .join("experiment_arms as a", "a.id", "av.arm_id")
      .where("a.experiment_id", experimentId)
      .distinct()
      .pluck("av.agent_id");
  }

  private async find(q: Knex | Knex.Transaction, id: number, lock = false): Promise<ExperimentRow> {
    const query = q("experiments").where({ id }).first();
    if (lock) query.forUpdate();
    const row = await query;
    if (!row) throw notFound("experiment_not_found", `experiment ${id}`);
    return row;
  }

  private async presentIn(q: Knex | Knex.Transaction, e: ExperimentRow): Promise<ExperimentView> {
    const system = await q("systems").where({ id: e.system_id }).first("name");
    const agent = e.agent_id ? await q("agents").where({ id: e.agent_id }).first("name") : null;
    const arms = await q("experiment_arms")
      .where({ experiment_id: e.id })
      .orderBy("position")
      .select("id", "name", "weight");
    const versions = await q("experiment_arm_versions as av")
      .join("experiment_arms as a", "a.id", "av.arm_id")
      .join("agents as ag", "ag.id", "av.agent_id")
      .join("versions as v", "v.id", "av.version_id")
      .where("a.experiment_id", e.id)
      .select("av.arm_id", "ag.name as agent", "v.number");
    return {
      id: e.id,
      name: e.name,
      system: system.name,
      agent: agent?.name ?? null,
      scope: e.agent_id ? "agent" : "system",
      unit: e.unit,
      status: e.status,
      salt: e.salt,
      description: e.description,
      arms: arms.map((a) => ({
        name: a.name,
        weight: a.weight,
        versions: Object.fromEntries(
          versions.filter((v) => v.arm_id === a.id).map((v) => [v.agent, v.number]),
        ),
      })),
      primary_metric: e.primary_metric,
      secondary_metrics: e.secondary_metrics,
      guardrails: e.guardrails,
      guardrail_alpha: e.guardrail_alpha ?? DEFAULT_GUARDRAIL_ALPHA,
      ramp: e.ramp
        ? {
            steps: e.ramp.steps,
            hold_minutes: e.ramp.hold_minutes,
            step: e.ramp_step,
            percent: rampPercent(e.ramp, e.ramp_step),
            step_started_at: e.ramp_step_at ? iso(e.ramp_step_at) : null,
          }
        : null,
      last_check: e.last_check,
      last_check_at: e.last_check_at ? iso(e.last_check_at) : null,
      fallback_to_champion: e.fallback_to_champion,
      created_by: e.created_by,
      created_at: iso(e.created_at),
      started_at: e.started_at ? iso(e.started_at) : null,
      ended_at: e.ended_at ? iso(e.ended_at) : null,
      end_reason: e.end_reason,
    };
  }
}
