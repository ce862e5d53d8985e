/**
 * How agentgate objects map onto MLflow's Model Registry, with no I/O (unit-tested on its own):
 * - agent `system/agent` ↔ registered model `system.agent`. MLflow model names may not contain
 *   `/` or `:`; agentgate names are lowercase letters, digits, `-` and `_`, so the dot is an
 *   unambiguous separator and the name parses back;
 * - agentgate version ↔ model version, described by `agentgate.*` tags (the same keys in both
 *   directions: a training pipeline sets them to have a version imported);
 * - the model version's `source` is `agentgate://<upstream>/<model>`; MLflow requires a source,
 *   and for a non-file URI an absolute path that does not change when resolved.
 */
import { z } from "zod";
import { nameSchema } from "../registry/names.js";
import { VERSION_KINDS, type VersionCreate, type VersionView, versionCreate } from "../registry/schemas.js";
import { type MlflowTag, type ModelVersion, tagRecord } from "./client.js";

export const CHAMPION_ALIAS = "champion";
export const CHALLENGER_ALIAS = "challenger";

export const TAG = {
  system: "agentgate.system",
  agent: "agentgate.agent",
  version: "agentgate.version",
  kind: "agentgate.kind",
  upstream: "agentgate.upstream",
  model: "agentgate.model",
  trainingCost: "agentgate.training_cost_usd",
} as const;

/** Lineage fields carried as `agentgate.<field>` tags. */
export const LINEAGE_FIELDS = [
  "base_model",
  "dataset",
  "fine_tune_job",
  "optimizer",
  "parent_version",
] as const;

const SCHEME = "agentgate:";

export function registeredModelName(system: string, agent: string): string {
  return `${system}.${agent}`;
}

export function parseRegisteredModelName(name: string): { system: string; agent: string } | null {
  const parts = name.split(".");
  if (parts.length !== 2) return null;
  const [system, agent] = parts as [string, string];
  return nameSchema.safeParse(system).success && nameSchema.safeParse(agent).success
    ? { system, agent }
    : null;
}

export function agentTags(system: string, agent: string): Record<string, string> {
  return { [TAG.system]: system, [TAG.agent]: agent };
}

/**
 * MLflow decodes the source repeatedly and refuses `..` segments and a path that resolves to
 * something else (`.` segments, NUL); `?`, `#`, `%`, backslashes and spaces would change in URL
 * parsing. Such model ids get a placeholder path; the `agentgate.model` tag always carries the
 * exact id.
 */
export function versionSource(upstream: string, model: string): string {
  const segments = model.split("/");
  const pathSafe =
    !model.includes("\u0000") &&
    !/[?#%\\\s]/.test(model) &&
    segments.every((s) => s !== "." && s !== "..") &&
    segments.at(-1) !== "";
  return `agentgate://${upstream}/${pathSafe ? model : "model"}`;
}

/** `agentgate://<upstream>/<model>` → its parts, or null for any other source. */
export function parseSource(source: string | undefined): { upstream: string; model: string } | null {
  if (!source?.startsWith(`${SCHEME}//`)) return null;
  const rest = source.slice(SCHEME.length + 2);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return null;
  try {
    return { upstream: rest.slice(0, slash), model: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    return null;
  }
}

/** The tags that describe an agentgate version on its MLflow model version. */
export function versionTags(v: VersionView): Record<string, string> {
  const tags: Record<string, string> = {
    ...agentTags(v.system, v.agent),
    [TAG.version]: String(v.version),
    [TAG.kind]: v.kind,
    [TAG.upstream]: v.upstream,
    [TAG.model]: v.model,
  };
  const lineage = (v.lineage ?? {}) as Record<string, unknown>;
  for (const field of LINEAGE_FIELDS) {
    const value = lineage[field];
    if (typeof value === "string" || typeof value === "number") tags[`agentgate.${field}`] = String(value);
  }
  if (v.training_cost_usd !== null) tags[TAG.trainingCost] = String(v.training_cost_usd);
  return tags;
}

export const asTagList = (tags: Record<string, string>): MlflowTag[] =>
  Object.entries(tags).map(([key, value]) => ({ key, value }));

/** Keys whose value differs (or is missing) on the MLflow side. */
export function changedTags(want: Record<string, string>, have: readonly MlflowTag[]): string[] {
  const current = tagRecord(have);
  return Object.keys(want).filter((k) => current[k] !== want[k]);
}

export type ImportDecision = { ok: true; input: VersionCreate } | { ok: false; reason: string };

const costSchema = z.coerce.number().finite().min(0);
const parentSchema = z.string().regex(/^[1-9][0-9]{0,9}$/);

/**
 * Whether an MLflow model version that agentgate does not know can become an agentgate version,
 * and as what. The upstream and model come from the `agentgate.upstream` / `agentgate.model` tags,
 * else from an `agentgate://` source; the kind from `agentgate.kind` (default `fine_tuned`).
 */
export function importDecision(mv: ModelVersion, upstreams: ReadonlySet<string>): ImportDecision {
  if (mv.status !== undefined && mv.status !== "READY")
    return { ok: false, reason: `status is ${mv.status}, not READY` };
  const tags = tagRecord(mv.tags);
  const fromSource = parseSource(mv.source);
  const upstream = tags[TAG.upstream] ?? fromSource?.upstream;
  const model = tags[TAG.model] ?? fromSource?.model;
  if (!upstream || !model) {
    return {
      ok: false,
      reason: `says neither which upstream nor which model serves it: set the ${TAG.upstream} and ${TAG.model} tags (or an agentgate://<upstream>/<model> source)`,
    };
  }
  if (!upstreams.has(upstream))
    return { ok: false, reason: `upstream '${upstream}' is not registered in agentgate` };
  const kind = tags[TAG.kind] ?? "fine_tuned";
  if (!(VERSION_KINDS as readonly string[]).includes(kind))
    return { ok: false, reason: `${TAG.kind} '${kind}' is not one of ${VERSION_KINDS.join(", ")}` };

  const lineage: Record<string, unknown> = { mlflow_model: mv.name, mlflow_version: mv.version };
  if (mv.run_id) lineage.mlflow_run = mv.run_id;
  for (const field of LINEAGE_FIELDS) {
    const value = tags[`agentgate.${field}`];
    if (value === undefined) continue;
    if (field === "parent_version") {
      if (!parentSchema.safeParse(value).success)
        return { ok: false, reason: `agentgate.parent_version '${value}' is not a version number` };
      lineage[field] = Number(value);
    } else lineage[field] = value;
  }
  let trainingCost: number | undefined;
  if (tags[TAG.trainingCost] !== undefined) {
    const cost = costSchema.safeParse(tags[TAG.trainingCost]);
    if (!cost.success || tags[TAG.trainingCost]?.trim() === "")
      return {
        ok: false,
        reason: `${TAG.trainingCost} '${tags[TAG.trainingCost]}' is not a non-negative number`,
      };
    trainingCost = cost.data;
  }
  const parsed = versionCreate.safeParse({
    kind,
    upstream,
    model,
    lineage,
    training_cost_usd: trainingCost,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `${issue?.path.join(".") || "version"}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, input: parsed.data };
}
