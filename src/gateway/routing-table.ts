/**
 * The routing table: everything the data plane needs to route a call, built from the database
 * into one immutable snapshot. The request path only reads the current snapshot (a Map lookup,
 * O(1)); reloads build a new one and swap the reference, so a request never sees half a change.
 *
 * Only versions that can receive traffic are loaded (champions, pins, arms of running
 * experiments), which keeps a rebuild cheap with many agents × many versions.
 */
import type { Knex } from "knex";
import { type CapturePolicy, loadCapturePolicies } from "../capture/policy.js";
import { effectiveWeights } from "../experiments/ramp.js";

export type UpstreamRoute = {
  name: string;
  baseUrl: string;
  apiKeyEnv: string | null;
  timeoutMs: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
};

export type PromptOverride = {
  system?: string | null;
  mode?: "replace" | "prepend";
  demos?: { role: "system" | "user" | "assistant"; content: string }[];
};

export type Pricing = { input_per_mtok: number; output_per_mtok: number; cached_input_per_mtok?: number };

export type VersionRoute = {
  id: number;
  number: number;
  kind: "base_optimized" | "fine_tuned";
  model: string;
  prompt: PromptOverride | null;
  params: Record<string, unknown> | null;
  pricing: Pricing | null;
  upstream: UpstreamRoute;
};

export type ExperimentRoute = {
  id: number;
  name: string;
  salt: string;
  unit: "session" | "user" | "request";
  fallbackToChampion: boolean;
  /**
   * Arm names and normalized weights, in definition order (the first arm is the control); during
   * a ramp, the weights of its current step.
   */
  arms: { name: string; weight: number }[];
};

export type AgentRoute = {
  id: number;
  system: string;
  agent: string;
  champion: VersionRoute | null;
  pin: VersionRoute | null;
  /** The running experiment covering this agent, with this agent's version in each arm. */
  experiment: { def: ExperimentRoute; versions: VersionRoute[] } | null;
  /** Capture of calls (messages and answers) when the agent opted in; absent or null = off. */
  capture?: CapturePolicy | null;
};

export type RoutingTable = {
  /** Keyed by `system/agent`. */
  agents: ReadonlyMap<string, AgentRoute>;
  /** SHA-256 (hex) of every live token allowed on the data plane → token name. */
  proxyTokens: ReadonlyMap<string, string>;
  builtAt: number;
};

/** An `upstreams` row as the data plane calls it. */
export function upstreamRoute(u: Record<string, unknown>): UpstreamRoute {
  return {
    name: u.name as string,
    baseUrl: u.base_url as string,
    apiKeyEnv: (u.api_key_env as string | null) ?? null,
    timeoutMs: u.timeout_ms as number,
    connectTimeoutMs: u.connect_timeout_ms as number,
    firstByteTimeoutMs: u.first_byte_timeout_ms as number,
  };
}

/** A `versions` row as the data plane serves it (also used for version-addressed calls). */
export function versionRoute(v: Record<string, unknown>, upstream: UpstreamRoute): VersionRoute {
  return {
    id: v.id as number,
    number: v.number as number,
    kind: v.kind as VersionRoute["kind"],
    model: v.model as string,
    prompt: (v.prompt as PromptOverride | null) ?? null,
    params: (v.params as Record<string, unknown> | null) ?? null,
    pricing: (v.pricing as Pricing | null) ?? null,
    upstream,
  };
}

export const EMPTY_TABLE: RoutingTable = { agents: new Map(), proxyTokens: new Map(), builtAt: 0 };

export async function buildRoutingTable(db: Knex): Promise<RoutingTable> {
  // One read-only transaction, so the snapshot is consistent across the queries.
  return db.transaction(
    async (trx) => {
      const upstreams = new Map<number, UpstreamRoute>();
      for (const u of await trx("upstreams").select("*")) {
        upstreams.set(u.id, upstreamRoute(u));
      }

      const champions = await trx("aliases").where({ name: "champion" }).select("agent_id", "version_id");
      const pins = await trx("pins").select("agent_id", "version_id");
      const experiments = await trx("experiments").where({ status: "running" }).select("*");
      const arms = experiments.length
        ? await trx("experiment_arms")
            .whereIn(
              "experiment_id",
              experiments.map((e) => e.id),
            )
            .orderBy(["experiment_id", "position"])
            .select("*")
        : [];
      const armVersions = arms.length
        ? await trx("experiment_arm_versions")
            .whereIn(
              "arm_id",
              arms.map((a) => a.id),
            )
            .select("*")
        : [];

      const neededIds = new Set<number>([
        ...champions.map((c) => c.version_id),
        ...pins.map((p) => p.version_id),
        ...armVersions.map((av) => av.version_id),
      ]);
      const versions = new Map<number, VersionRoute>();
      for (const chunk of chunks([...neededIds], 5000)) {
        for (const v of await trx("versions").whereIn("id", chunk).select("*")) {
          const upstream = upstreams.get(v.upstream_id);
          if (!upstream) continue;
          versions.set(v.id, versionRoute(v, upstream));
        }
      }

      const championOf = new Map(champions.map((c) => [c.agent_id, versions.get(c.version_id) ?? null]));
      const pinOf = new Map(pins.map((p) => [p.agent_id, versions.get(p.version_id) ?? null]));
      const experimentOf = new Map<number, { def: ExperimentRoute; versions: VersionRoute[] }>();
      for (const e of experiments) {
        const eArms = arms.filter((a) => a.experiment_id === e.id);
        // With a ramp, the control gets 100 − step% and the treatments share step% (ramp.ts).
        const weights = effectiveWeights(
          eArms.map((a) => a.weight),
          e.ramp,
          e.ramp_step,
        );
        const def: ExperimentRoute = {
          id: e.id,
          name: e.name,
          salt: e.salt,
          unit: e.unit,
          fallbackToChampion: e.fallback_to_champion,
          arms: eArms.map((a, i) => ({ name: a.name, weight: weights[i] ?? 0 })),
        };
        const agentIds = new Set(
          armVersions.filter((av) => eArms.some((a) => a.id === av.arm_id)).map((av) => av.agent_id),
        );
        for (const agentId of agentIds) {
          const perArm = eArms.map((a) => {
            const av = armVersions.find((x) => x.arm_id === a.id && x.agent_id === agentId);
            return av ? versions.get(av.version_id) : undefined;
          });
          if (perArm.every((v): v is VersionRoute => v !== undefined))
            experimentOf.set(agentId, { def, versions: perArm });
        }
      }

      const captureOf = await loadCapturePolicies(trx);
      const agents = new Map<string, AgentRoute>();
      const rows = await trx("agents as a")
        .join("systems as s", "s.id", "a.system_id")
        .select("a.id", "a.name", "s.name as system");
      for (const r of rows) {
        agents.set(`${r.system}/${r.name}`, {
          id: r.id,
          system: r.system,
          agent: r.name,
          champion: championOf.get(r.id) ?? null,
          pin: pinOf.get(r.id) ?? null,
          experiment: experimentOf.get(r.id) ?? null,
          capture: captureOf.get(r.id) ?? null,
        });
      }

      const proxyTokens = new Map<string, string>();
      const tokens = await trx("api_tokens")
        .whereNull("revoked_at")
        .where((q) => q.whereRaw("'proxy' = ANY(scopes)").orWhereRaw("'admin' = ANY(scopes)"))
        .select("token_hash", "name");
      for (const t of tokens) proxyTokens.set(t.token_hash, t.name);

      return { agents, proxyTokens, builtAt: Date.now() };
    },
    { readOnly: true },
  );
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
