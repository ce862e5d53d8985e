/** The database side of MLflow sync: agents in scope, links, the challenger, and the sync lease. */
import type { Knex } from "knex";
import { findAgent, findSystem, iso } from "../registry/lookup.js";
import { agentRef } from "../registry/names.js";
import { registeredModelName } from "./mapping.js";
import type { LinkView } from "./report.js";

export type ScopedAgent = {
  id: number;
  system: string;
  agent: string;
  ref: string;
  description: string | null;
  /** The registered model that mirrors it. */
  model: string;
};

export type Link = {
  version_id: number;
  registered_model: string;
  model_version: string;
  run_id: string | null;
  origin: "push" | "pull";
};

/** The agents a sync covers, in a stable order; unknown names are errors, not empty syncs. */
export async function agentsInScope(
  db: Knex,
  scope: { system?: string; agent?: string },
): Promise<ScopedAgent[]> {
  if (scope.system && scope.agent) await findAgent(db, scope.system, scope.agent);
  else if (scope.system) await findSystem(db, scope.system);
  const q = db("agents as a")
    .join("systems as s", "s.id", "a.system_id")
    .orderBy(["s.name", "a.name"])
    .select("a.id", "s.name as system", "a.name as agent", "a.description", "a.role");
  if (scope.system) q.where("s.name", scope.system);
  if (scope.agent) q.where("a.name", scope.agent);
  const rows: {
    id: number;
    system: string;
    agent: string;
    description: string | null;
    role: string | null;
  }[] = await q;
  return rows.map((r) => ({
    id: r.id,
    system: r.system,
    agent: r.agent,
    ref: agentRef(r.system, r.agent),
    description: r.description ?? r.role,
    model: registeredModelName(r.system, r.agent),
  }));
}

export async function upstreamNames(db: Knex): Promise<Set<string>> {
  return new Set(await db("upstreams").pluck("name"));
}

/** agentgate version number → row id, for one agent. */
export async function versionIds(db: Knex, agentId: number): Promise<Map<number, number>> {
  const rows: { id: number; number: number }[] = await db("versions")
    .where({ agent_id: agentId })
    .select("id", "number");
  return new Map(rows.map((r) => [r.number, r.id]));
}

export async function linksOf(db: Knex, agentId: number): Promise<Map<number, Link>> {
  const rows: (Link & { number: number })[] = await db("mlflow_links as l")
    .join("versions as v", "v.id", "l.version_id")
    .where("v.agent_id", agentId)
    .select("l.*", "v.number");
  return new Map(rows.map(({ number, ...l }) => [number, l]));
}

export async function saveLink(db: Knex, link: Link): Promise<void> {
  await db("mlflow_links")
    .insert({ ...link, synced_at: db.fn.now() })
    .onConflict("version_id")
    .merge(["registered_model", "model_version", "run_id", "synced_at"]);
}

/**
 * The version MLflow's `challenger` alias should point at: in the running experiment covering the
 * agent (at most one runs per agent), the first arm, in arm order, whose version is not the
 * champion. Null when no experiment runs on the agent.
 */
export async function challengerOf(
  db: Knex,
  agentId: number,
  champion: number | null,
): Promise<number | null> {
  const rows: { number: number }[] = await db("experiments as e")
    .join("experiment_arms as a", "a.experiment_id", "e.id")
    .join("experiment_arm_versions as av", "av.arm_id", "a.id")
    .join("versions as v", "v.id", "av.version_id")
    .where({ "e.status": "running", "av.agent_id": agentId })
    .orderBy([{ column: "e.id" }, { column: "a.position" }])
    .select("v.number");
  return rows.find((r) => r.number !== champion)?.number ?? null;
}

/** How long a sync may hold the lease; a holder that died frees it after this. */
const LEASE_MINUTES = 30;

/** Takes the sync lease; false when another sync holds a lease that has not expired. */
export async function acquireLease(db: Knex, holder: string): Promise<boolean> {
  const rows = await db.raw(
    `INSERT INTO mlflow_sync_lock (id, holder, expires_at)
     VALUES (1, ?, now() + make_interval(mins => ?))
     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE mlflow_sync_lock.expires_at < now()
     RETURNING holder`,
    [holder, LEASE_MINUTES],
  );
  return (rows.rows as unknown[]).length === 1;
}

export async function releaseLease(db: Knex, holder: string): Promise<void> {
  await db("mlflow_sync_lock").where({ id: 1, holder }).delete();
}

/** Which MLflow model version mirrors each agentgate version, for the agents in scope. */
export async function listLinks(db: Knex, scope: { system?: string; agent?: string }): Promise<LinkView[]> {
  const agents = await agentsInScope(db, scope);
  if (agents.length === 0) return [];
  const rows: (Omit<LinkView, "system" | "agent" | "synced_at"> & { agent_id: number; synced_at: Date })[] =
    await db("mlflow_links as l")
      .join("versions as v", "v.id", "l.version_id")
      .whereIn(
        "v.agent_id",
        agents.map((a) => a.id),
      )
      .orderBy([{ column: "v.agent_id" }, { column: "v.number" }])
      .select(
        "v.agent_id",
        "v.number as version",
        "l.registered_model",
        "l.model_version",
        "l.run_id",
        "l.origin",
        "l.synced_at",
      );
  const byId = new Map(agents.map((a) => [a.id, a]));
  return rows.map(({ agent_id, synced_at, ...r }) => {
    const a = byId.get(agent_id) as ScopedAgent;
    return { system: a.system, agent: a.agent, ...r, synced_at: iso(synced_at) };
  });
}
