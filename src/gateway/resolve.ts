/**
 * Route resolution, entirely from the in-memory routing table: pin > running experiment arm >
 * champion. For experiments the arm is `chooseArm(weights, bucket(salt, unit key))`, so the same
 * unit (workflow run, user) gets the same arm on every agent the experiment covers and on every
 * replica.
 */
import { AppError } from "../errors.js";
import { bucket, chooseArm } from "./assignment.js";
import type { AgentRoute, RoutingTable, VersionRoute } from "./routing-table.js";

export type RouteKind = "pinned" | "experiment" | "champion" | "fallback";

export type Resolution = {
  agent: AgentRoute;
  version: VersionRoute;
  route: Exclude<RouteKind, "fallback">;
  experiment: { id: number; name: string; arm: string; unitKey: string } | null;
  /** Where to retry when an experimental arm's upstream fails before the first byte. */
  fallback: VersionRoute | null;
};

export type UnitKeys = { session: string | null; user: string | null; requestId: string };

const AGENT_MODEL_PREFIX = "agent:";
/** LiteLLM's provider prefix, for clients that pass a LiteLLM model string through unchanged. */
const LITELLM_AGENT_PREFIX = "openai/agent:";

/**
 * The `system/agent` a call is for: the X-Agent header, else `model: "agent:system/agent"` (or
 * `openai/agent:system/agent`). A model naming a version (`agent:system/agent@3`) wins over the
 * header, since it is more specific.
 */
export function agentOf(header: string | undefined, model: unknown): string | null {
  const hasHeader = header !== undefined && header.trim() !== "";
  if (typeof model === "string" && (!hasHeader || model.includes("@"))) {
    if (model.startsWith(AGENT_MODEL_PREFIX)) return model.slice(AGENT_MODEL_PREFIX.length);
    if (model.startsWith(LITELLM_AGENT_PREFIX)) return model.slice(LITELLM_AGENT_PREFIX.length);
  }
  return hasHeader ? (header as string).trim() : null;
}

function unitKeyFor(unit: "session" | "user" | "request", keys: UnitKeys): string {
  // The configured unit first, then the DESIGN's order (session, user), then the request itself.
  if (unit === "user" && keys.user) return `user:${keys.user}`;
  if (unit !== "request") {
    if (keys.session) return `session:${keys.session}`;
    if (keys.user) return `user:${keys.user}`;
  }
  return `request:${keys.requestId}`;
}

export function resolveRoute(table: RoutingTable, ref: string, keys: UnitKeys): Resolution {
  const agent = table.agents.get(ref);
  if (!agent) {
    throw new AppError(
      "agent_not_found",
      `unknown agent '${ref}': register it first (agentgate agents create ${ref})`,
    );
  }
  if (agent.pin) return { agent, version: agent.pin, route: "pinned", experiment: null, fallback: null };
  if (agent.experiment) {
    const { def, versions } = agent.experiment;
    const unitKey = unitKeyFor(def.unit, keys);
    const i = chooseArm(
      def.arms.map((a) => a.weight),
      bucket(def.salt, unitKey),
    );
    const version = versions[i] as VersionRoute;
    const arm = def.arms[i]?.name as string;
    const fallback =
      def.fallbackToChampion && agent.champion && agent.champion.id !== version.id ? agent.champion : null;
    return {
      agent,
      version,
      route: "experiment",
      experiment: { id: def.id, name: def.name, arm, unitKey },
      fallback,
    };
  }
  if (agent.champion)
    return { agent, version: agent.champion, route: "champion", experiment: null, fallback: null };
  throw new AppError(
    "no_routable_version",
    `agent '${ref}' has no champion version: register a version or set the champion alias`,
  );
}
