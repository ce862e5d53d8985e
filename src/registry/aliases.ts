/**
 * Aliases: movable names on one version of an agent; `champion` is the default route. Every move
 * is appended to `alias_history` and audited in the caller's transaction.
 */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound } from "../errors.js";
import { type AgentRow, findAgent, findVersion, iso, type VersionRow } from "./lookup.js";
import { agentRef } from "./names.js";
import type { AliasHistoryEntry, AliasView } from "./schemas.js";

export const CHAMPION = "champion";

type Move = {
  agent: AgentRow;
  ref: string;
  alias: string;
  to: VersionRow | null;
  reason?: string | null;
  action?: string;
};

/**
 * Points `alias` at `to` (or removes it when `to` is null). The caller holds the agent's lock.
 * Returns the version number the alias pointed at before, if any.
 */
export async function moveAlias(trx: Knex.Transaction, actor: Actor, m: Move): Promise<number | null> {
  const current = await trx("aliases as a")
    .join("versions as v", "v.id", "a.version_id")
    .where({ "a.agent_id": m.agent.id, "a.name": m.alias })
    .first("v.id", "v.number");
  if (m.to) {
    await trx("aliases")
      .insert({
        agent_id: m.agent.id,
        name: m.alias,
        version_id: m.to.id,
        updated_by: actor.name,
        updated_at: trx.fn.now(),
      })
      .onConflict(["agent_id", "name"])
      .merge(["version_id", "updated_by", "updated_at"]);
  } else {
    await trx("aliases").where({ agent_id: m.agent.id, name: m.alias }).delete();
  }
  const action = m.action ?? (m.to ? "alias.set" : "alias.delete");
  await trx("alias_history").insert({
    agent_id: m.agent.id,
    alias: m.alias,
    from_version_id: current?.id ?? null,
    to_version_id: m.to?.id ?? null,
    action,
    reason: m.reason ?? null,
    actor: actor.name,
  });
  await recordAudit(trx, {
    actor: actor.name,
    action,
    objectType: "agent",
    objectKey: m.ref,
    before: { alias: m.alias, version: current?.number ?? null },
    after: { alias: m.alias, version: m.to?.number ?? null },
    reason: m.reason ?? null,
  });
  return current?.number ?? null;
}

export class AliasService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async set(
    actor: Actor,
    system: string,
    agent: string,
    alias: string,
    version: number,
    reason?: string | null,
  ): Promise<AliasView> {
    return this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const ref = agentRef(system, agent);
      const to = await findVersion(trx, a, ref, version);
      await moveAlias(trx, actor, { agent: a, ref, alias, to, reason });
      await this.onChange(trx);
      return this.getIn(trx, a, ref, alias);
    });
  }

  /** `champion` cannot be deleted: without it an agent has no default route. Move it instead. */
  async delete(
    actor: Actor,
    system: string,
    agent: string,
    alias: string,
    reason?: string | null,
  ): Promise<void> {
    if (alias === CHAMPION) {
      throw new AppError(
        "alias_protected",
        "the champion alias cannot be deleted; move it to another version instead",
      );
    }
    await this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const ref = agentRef(system, agent);
      await this.getIn(trx, a, ref, alias);
      await moveAlias(trx, actor, { agent: a, ref, alias, to: null, reason });
      await this.onChange(trx);
    });
  }

  async get(
    system: string,
    agent: string,
    alias: string,
  ): Promise<AliasView & { history: AliasHistoryEntry[] }> {
    const a = await findAgent(this.db, system, agent);
    const ref = agentRef(system, agent);
    const view = await this.getIn(this.db, a, ref, alias);
    return { ...view, history: await this.history(a, alias) };
  }

  async list(system: string, agent: string): Promise<AliasView[]> {
    const a = await findAgent(this.db, system, agent);
    const rows = await this.db("aliases as a")
      .join("versions as v", "v.id", "a.version_id")
      .where("a.agent_id", a.id)
      .orderBy("a.name")
      .select("a.name", "v.number", "a.updated_by", "a.updated_at");
    return rows.map((r) => ({
      alias: r.name,
      version: r.number,
      updated_by: r.updated_by,
      updated_at: iso(r.updated_at),
    }));
  }

  /** Newest first. */
  async history(a: AgentRow, alias: string, limit = 100): Promise<AliasHistoryEntry[]> {
    const rows = await this.db("alias_history as h")
      .leftJoin("versions as f", "f.id", "h.from_version_id")
      .leftJoin("versions as t", "t.id", "h.to_version_id")
      .where({ "h.agent_id": a.id, "h.alias": alias })
      .orderBy("h.id", "desc")
      .limit(limit)
      .select(
        "h.alias",
        "f.number as from_version",
        "t.number as to_version",
        "h.action",
        "h.reason",
        "h.actor",
        "h.at",
      );
    return rows.map((r) => ({ ...r, at: iso(r.at) }));
  }

  private async getIn(
    q: Knex | Knex.Transaction,
    a: AgentRow,
    ref: string,
    alias: string,
  ): Promise<AliasView> {
    const row = await q("aliases as a")
      .join("versions as v", "v.id", "a.version_id")
      .where({ "a.agent_id": a.id, "a.name": alias })
      .first("a.name", "v.number", "a.updated_by", "a.updated_at");
    if (!row) throw notFound("alias_not_found", `alias '${alias}' of '${ref}'`);
    return {
      alias: row.name,
      version: row.number,
      updated_by: row.updated_by,
      updated_at: iso(row.updated_at),
    };
  }
}
