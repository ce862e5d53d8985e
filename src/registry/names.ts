/**
 * What a valid name is. Systems, agents, upstreams, tokens and aliases share one rule, chosen so a
 * name is safe in a URL path, a Prometheus label, an MLflow alias and a shell argument:
 * 1–64 characters of lowercase letters, digits, `-` and `_`, starting with a letter or digit.
 * Aliases also may not look like a version (`3`, `v3`) or be `latest`, which MLflow reserves.
 */
import { z } from "zod";

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const nameSchema = z
  .string({ error: "must be a string" })
  .regex(
    NAME_RE,
    "must be 1-64 characters of lowercase letters, digits, '-' or '_', starting with a letter or digit",
  );

export const aliasNameSchema = nameSchema
  .refine((s) => !/^v?\d+$/.test(s), "must not look like a version number (e.g. '3' or 'v3')")
  .refine((s) => s !== "latest", "'latest' is reserved");

/** `system/agent`, the address of an agent in headers, CLI arguments and audit keys. */
export const agentRef = (system: string, agent: string) => `${system}/${agent}`;

export function parseAgentRef(ref: string): { system: string; agent: string } | null {
  const parts = ref.split("/");
  if (parts.length !== 2) return null;
  const [system, agent] = parts as [string, string];
  return NAME_RE.test(system) && NAME_RE.test(agent) ? { system, agent } : null;
}
