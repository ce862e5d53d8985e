/**
 * Row lookups shared by the registry services. Each throws the matching `*_not_found` error, so
 * callers read as the happy path. `lock` takes the agent's row lock: every mutation of an
 * agent's versions, aliases or pin holds it, which serializes them per agent.
 */
import type { Knex } from "knex";
import { notFound } from "../errors.js";
import { agentRef } from "./names.js";

type Q = Knex | Knex.Transaction;

export type SystemRow = {
  id: number;
  name: string;
  topology: string;
  description: string | null;
  created_at: Date;
};
export type AgentRow = {
  id: number;
  system_id: number;
  name: string;
  role: string | null;
  description: string | null;
  next_version: number;
  created_at: Date;
};
export type VersionRow = {
  id: number;
  agent_id: number;
  number: number;
  kind: "base_optimized" | "fine_tuned";
  upstream_id: number;
  model: string;
  prompt: unknown;
  params: unknown;
  lineage: unknown;
  training_cost_usd: number | null;
  pricing: unknown;
  tags: Record<string, string>;
  created_by: string;
  created_at: Date;
};

export async function findSystem(q: Q, system: string): Promise<SystemRow> {
  const row = await q("systems").where({ name: system }).first();
  if (!row) throw notFound("system_not_found", `system '${system}'`);
  return row;
}

export async function findAgent(
  q: Q,
  system: string,
  agent: string,
  opts: { lock?: boolean } = {},
): Promise<AgentRow> {
  const sys = await findSystem(q, system);
  const query = q("agents").where({ system_id: sys.id, name: agent }).first();
  if (opts.lock) query.forUpdate();
  const row = await query;
  if (!row) throw notFound("agent_not_found", `agent '${agentRef(system, agent)}'`);
  return row;
}

export async function findVersion(q: Q, agent: AgentRow, ref: string, n: number): Promise<VersionRow> {
  const row = await q("versions").where({ agent_id: agent.id, number: n }).first();
  if (!row) throw notFound("version_not_found", `version ${n} of '${ref}'`);
  return row;
}

/**
 * `share` locks the row until the transaction ends, so a concurrent delete of the upstream either
 * finishes first (and this answers `upstream_not_found`) or waits and then sees it in use.
 */
export async function findUpstreamId(q: Q, name: string, opts: { share?: boolean } = {}): Promise<number> {
  const query = q("upstreams").where({ name }).first("id");
  if (opts.share) query.forShare();
  const row = await query;
  if (!row) throw notFound("upstream_not_found", `upstream '${name}'`);
  return row.id;
}

export const iso = (d: Date | string) => new Date(d).toISOString();
