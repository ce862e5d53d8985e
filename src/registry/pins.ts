/**
 * Pins and rollback, the on-call controls.
 *
 * A pin sends 100% of an agent's traffic to one version, above any experiment.
 * Rollback moves `champion` back to the previous good version (or a named one). When the agent is
 * pinned, the pin follows, so a pinned bad version does not keep serving. "Previous good" is the
 * most recent earlier champion that was never itself rolled back from: repeated rollbacks walk
 * further back instead of flip-flopping between two versions.
 */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound } from "../errors.js";
import { CHAMPION, moveAlias } from "./aliases.js";
import { type AgentRow, findAgent, findVersion, type VersionRow } from "./lookup.js";
import { agentRef } from "./names.js";
import type { RollbackResult } from "./schemas.js";

export type PinView = { system: string; agent: string; version: number; reason: string | null; by: string };

export class PinService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async pin(
    actor: Actor,
    system: string,
    agent: string,
    version: number,
    reason?: string | null,
  ): Promise<PinView> {
    return this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const ref = agentRef(system, agent);
      const v = await findVersion(trx, a, ref, version);
      await this.setPin(trx, actor, a, ref, v, reason ?? null, "pin.set");
      await this.onChange(trx);
      return { system, agent, version, reason: reason ?? null, by: actor.name };
    });
  }

  async unpin(actor: Actor, system: string, agent: string, reason?: string | null): Promise<void> {
    await this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const ref = agentRef(system, agent);
      const current = await this.currentPin(trx, a);
      if (!current) throw notFound("pin_not_found", `pin on '${ref}'`);
      await trx("pins").where({ agent_id: a.id }).delete();
      await recordAudit(trx, {
        actor: actor.name,
        action: "pin.delete",
        objectType: "agent",
        objectKey: ref,
        before: { pinned: current },
        after: { pinned: null },
        reason: reason ?? null,
      });
      await this.onChange(trx);
    });
  }

  async rollback(
    actor: Actor,
    system: string,
    agent: string,
    opts: { version?: number; reason?: string | null },
  ): Promise<RollbackResult> {
    return this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const ref = agentRef(system, agent);
      const champion = await trx("aliases as al")
        .join("versions as v", "v.id", "al.version_id")
        .where({ "al.agent_id": a.id, "al.name": CHAMPION })
        .first("v.id", "v.number");
      const targetNumber = opts.version ?? (await this.previousGoodChampion(trx, a, champion?.id ?? null));
      if (targetNumber === null) {
        throw new AppError(
          "no_rollback_target",
          `'${ref}' has no earlier champion to roll back to; name a version`,
        );
      }
      const target = await findVersion(trx, a, ref, targetNumber);
      const reason = opts.reason ?? null;
      if (champion?.id !== target.id) {
        await moveAlias(trx, actor, {
          agent: a,
          ref,
          alias: CHAMPION,
          to: target,
          reason,
          action: "rollback",
        });
      }
      const pinned = (await this.currentPin(trx, a)) !== null;
      if (pinned) await this.setPin(trx, actor, a, ref, target, reason, "rollback.pin");
      await this.onChange(trx);
      return { system, agent, version: target.number, previous: champion?.number ?? null, pinned };
    });
  }

  private async previousGoodChampion(
    trx: Knex.Transaction,
    a: AgentRow,
    currentId: number | null,
  ): Promise<number | null> {
    const moves = await trx("alias_history")
      .where({ agent_id: a.id, alias: CHAMPION })
      .orderBy("id", "desc")
      .select("from_version_id", "to_version_id", "action");
    const rolledBackFrom = new Set(
      moves.filter((m) => m.action === "rollback").map((m) => m.from_version_id),
    );
    for (const m of moves) {
      for (const id of [m.to_version_id, m.from_version_id]) {
        if (id !== null && id !== currentId && !rolledBackFrom.has(id)) {
          const v = await trx("versions").where({ id }).first("number");
          return v.number;
        }
      }
    }
    return null;
  }

  private async currentPin(trx: Knex.Transaction, a: AgentRow): Promise<number | null> {
    const row = await trx("pins as p")
      .join("versions as v", "v.id", "p.version_id")
      .where("p.agent_id", a.id)
      .first("v.number");
    return row?.number ?? null;
  }

  private async setPin(
    trx: Knex.Transaction,
    actor: Actor,
    a: AgentRow,
    ref: string,
    v: VersionRow,
    reason: string | null,
    action: string,
  ): Promise<void> {
    const before = await this.currentPin(trx, a);
    await trx("pins")
      .insert({ agent_id: a.id, version_id: v.id, reason, created_by: actor.name, created_at: trx.fn.now() })
      .onConflict("agent_id")
      .merge(["version_id", "reason", "created_by", "created_at"]);
    await recordAudit(trx, {
      actor: actor.name,
      action,
      objectType: "agent",
      objectKey: ref,
      before: { pinned: before },
      after: { pinned: v.number },
      reason,
    });
  }
}
