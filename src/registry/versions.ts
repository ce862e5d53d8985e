/**
 * Versions: immutable, numbered 1, 2, 3… per agent. The number comes from the agent's
 * `next_version` counter under its row lock, so parallel registrations never collide.
 * The first version of an agent becomes its champion, so a new agent is routable at once.
 */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import { moveAlias } from "./aliases.js";
import { type AgentRow, findAgent, findUpstreamId, findVersion, iso, type VersionRow } from "./lookup.js";
import { agentRef } from "./names.js";
import type { VersionCreate, VersionView } from "./schemas.js";

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

export class VersionService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async register(actor: Actor, system: string, agent: string, input: VersionCreate): Promise<VersionView> {
    return this.db.transaction(async (trx) => {
      const row = await registerVersion(trx, actor, system, agent, input, this.onChange);
      const a = await findAgent(trx, system, agent);
      return this.present(trx, system, agent, a, row);
    });
  }

  async list(system: string, agent: string): Promise<VersionView[]> {
    const a = await findAgent(this.db, system, agent);
    const rows: VersionRow[] = await this.db("versions").where({ agent_id: a.id }).orderBy("number");
    return Promise.all(rows.map((r) => this.present(this.db, system, agent, a, r)));
  }

  async get(system: string, agent: string, n: number): Promise<VersionView> {
    const a = await findAgent(this.db, system, agent);
    const row = await findVersion(this.db, a, agentRef(system, agent), n);
    return this.present(this.db, system, agent, a, row);
  }

  private async present(
    q: Knex | Knex.Transaction,
    system: string,
    agent: string,
    a: AgentRow,
    row: VersionRow,
  ): Promise<VersionView> {
    // Sequential on purpose: `q` may be a transaction, whose single connection runs one query at a time.
    const up = await q("upstreams").where({ id: row.upstream_id }).first("name");
    const aliases = await q("aliases").where({ version_id: row.id }).orderBy("name").pluck("name");
    const pin = await q("pins").where({ agent_id: a.id, version_id: row.id }).first("agent_id");
    return {
      system,
      agent,
      version: row.number,
      kind: row.kind,
      upstream: up?.name ?? "",
      model: row.model,
      prompt: row.prompt ?? null,
      params: row.params ?? null,
      lineage: row.lineage ?? null,
      training_cost_usd: row.training_cost_usd,
      pricing: row.pricing ?? null,
      tags: row.tags ?? {},
      aliases,
      pinned: Boolean(pin),
      created_by: row.created_by,
      created_at: iso(row.created_at),
    };
  }
}

/**
 * Registers a version inside the caller's transaction (the fine-tune follower registers a job's
 * versions in the same transaction that marks the job registered). Takes the agent's row lock.
 */
export async function registerVersion(
  trx: Knex.Transaction,
  actor: Actor,
  system: string,
  agent: string,
  input: VersionCreate,
  onChange: (trx: Knex.Transaction) => Promise<void>,
): Promise<VersionRow> {
  const a = await findAgent(trx, system, agent, { lock: true });
  const ref = agentRef(system, agent);
  const upstreamId = await findUpstreamId(trx, input.upstream, { share: true });
  const parent = (input.lineage as { parent_version?: number } | null | undefined)?.parent_version;
  if (parent !== undefined && parent >= a.next_version) {
    throw new AppError(
      "invalid_request",
      `lineage.parent_version: version ${parent} of '${ref}' does not exist`,
      "lineage.parent_version",
    );
  }
  const number = a.next_version;
  await trx("agents")
    .where({ id: a.id })
    .update({ next_version: number + 1 });
  const [row] = await trx("versions")
    .insert({
      agent_id: a.id,
      number,
      kind: input.kind,
      upstream_id: upstreamId,
      model: input.model,
      prompt: json(input.prompt),
      params: json(input.params),
      lineage: json(input.lineage),
      training_cost_usd: input.training_cost_usd ?? null,
      pricing: json(input.pricing),
      tags: JSON.stringify(input.tags ?? {}),
      created_by: actor.name,
    })
    .returning("*");
  await recordAudit(trx, {
    actor: actor.name,
    action: "version.register",
    objectType: "agent",
    objectKey: ref,
    after: { version: number, kind: input.kind, upstream: input.upstream, model: input.model },
  });
  if (number === 1) {
    await moveAlias(trx, actor, {
      agent: a,
      ref,
      alias: "champion",
      to: row,
      reason: "first version of the agent",
    });
  }
  await onChange(trx);
  return row;
}
