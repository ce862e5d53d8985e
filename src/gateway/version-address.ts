/**
 * Version-addressed calls: `model: "agent:<system>/<agent>@<version>"` (also with LiteLLM's
 * `openai/` prefix, which LiteLLM strips before sending) serves that version of the agent, as a
 * per-call pin: no experiment, no fallback. It is what a fine-tune made through
 * `/v1/fine_tuning/jobs` answers as `fine_tuned_model`, so a DSPy program evaluates exactly the
 * version it trained.
 *
 * The routing table holds only the versions that receive traffic (champions, pins, arms), so an
 * addressed version is read from the database on its first call and kept until the table is
 * rebuilt (the key includes the table's build time: a changed upstream is seen after the reload
 * that the change NOTIFYs). Production traffic never takes this path.
 */
import type { Knex } from "knex";
import { AppError } from "../errors.js";
import type { Resolution } from "./resolve.js";
import { type RoutingTable, upstreamRoute, type VersionRoute, versionRoute } from "./routing-table.js";

const ADDRESS = /^(.+)@([1-9][0-9]{0,9})$/;
const MAX_CACHED = 1000;

/** `system/agent@3` → `{ref: "system/agent", version: 3}`; anything else → null. */
export function versionAddress(ref: string): { ref: string; version: number } | null {
  const m = ADDRESS.exec(ref);
  return m ? { ref: m[1] as string, version: Number(m[2]) } : null;
}

export class VersionDirectory {
  private readonly cache = new Map<string, VersionRoute | null>();
  private builtAt = -1;

  constructor(private readonly db: Knex) {}

  async resolve(table: RoutingTable, ref: string, number: number): Promise<Resolution> {
    const agent = table.agents.get(ref);
    if (!agent) {
      throw new AppError(
        "agent_not_found",
        `unknown agent '${ref}': register it first (agentgate agents create ${ref})`,
      );
    }
    if (table.builtAt !== this.builtAt) {
      this.cache.clear();
      this.builtAt = table.builtAt;
    }
    const key = `${ref}@${number}`;
    let version = this.cache.get(key);
    if (version === undefined) {
      version = await this.load(agent.id, number);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      // Misses are remembered too, so calls naming a version that does not exist cost one read
      // per table build, not one per call; registering the version rebuilds the table.
      this.cache.set(key, version);
    }
    if (!version) throw new AppError("version_not_found", `version ${number} of '${ref}' not found`, "model");
    return { agent, version, route: "pinned", experiment: null, fallback: null };
  }

  private async load(agentId: number, number: number): Promise<VersionRoute | null> {
    const v = await this.db("versions as v")
      .join("upstreams as u", "u.id", "v.upstream_id")
      .where({ "v.agent_id": agentId, "v.number": number })
      .first(
        "v.id",
        "v.number",
        "v.kind",
        "v.model",
        "v.prompt",
        "v.params",
        "v.pricing",
        "u.name as upstream_name",
        "u.base_url",
        "u.api_key_env",
        "u.timeout_ms",
        "u.connect_timeout_ms",
        "u.first_byte_timeout_ms",
      );
    return v ? versionRoute(v, upstreamRoute({ ...v, name: v.upstream_name })) : null;
  }
}
