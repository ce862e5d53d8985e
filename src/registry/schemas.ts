/**
 * Request and response schemas of the registry. Requests are strict (unknown fields are an
 * error, so typos do not pass silently); responses document what the API returns.
 */
import { z } from "zod";
import { aliasNameSchema, nameSchema } from "./names.js";

export const TOPOLOGIES = ["sequential", "hierarchical", "collaborative", "reflexive", "custom"] as const;
export const VERSION_KINDS = ["base_optimized", "fine_tuned"] as const;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const jsonObject = z.record(z.string(), z.unknown());
const ms = (min: number, max: number) =>
  z.number().int("must be an integer").min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/** Keys belong in the environment, never in the database: no `user:key@` in an upstream URL. */
function withoutCredentials(u: string): boolean {
  if (!URL.canParse(u)) return true; // reported by the URL check itself
  const { username, password } = new URL(u);
  return username === "" && password === "";
}

const upstreamFields = {
  base_url: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .max(2048, "must be at most 2048 characters")
    .refine(
      withoutCredentials,
      "must not contain credentials (name the key's environment variable in api_key_env)",
    ),
  api_key_env: z
    .string()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
      "must be an environment variable name (the key itself is never stored)",
    )
    .nullish(),
  timeout_ms: ms(100, 3_600_000),
  connect_timeout_ms: ms(100, 600_000),
  first_byte_timeout_ms: ms(100, 3_600_000),
};
export const upstreamCreate = z.strictObject({
  name: nameSchema,
  ...upstreamFields,
  timeout_ms: upstreamFields.timeout_ms.default(120_000),
  connect_timeout_ms: upstreamFields.connect_timeout_ms.default(10_000),
  first_byte_timeout_ms: upstreamFields.first_byte_timeout_ms.default(60_000),
});
/** No defaults: a field left out of an update keeps its stored value. */
export const upstreamUpdate = z.strictObject(upstreamFields).partial();

export const upstream = z.object({
  name: z.string(),
  base_url: z.string(),
  api_key_env: z.string().nullable(),
  timeout_ms: z.number(),
  connect_timeout_ms: z.number(),
  first_byte_timeout_ms: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const systemCreate = z.strictObject({
  name: nameSchema,
  topology: z.enum(TOPOLOGIES, { error: `must be one of ${TOPOLOGIES.join(", ")}` }),
  description: text(2000).nullish(),
});
export const system = z.object({
  name: z.string(),
  topology: z.enum(TOPOLOGIES),
  description: z.string().nullable(),
  agents: z.number(),
  created_at: z.string(),
});

export const agentCreate = z.strictObject({
  name: nameSchema,
  role: text(200).nullish(),
  description: text(2000).nullish(),
});

const pinView = z.object({
  version: z.number(),
  reason: z.string().nullable(),
  by: z.string(),
  at: z.string(),
});
export const agent = z.object({
  system: z.string(),
  name: z.string(),
  role: z.string().nullable(),
  description: z.string().nullable(),
  champion: z.number().nullable(),
  aliases: z.record(z.string(), z.number()),
  pin: pinView.nullable(),
  versions: z.number(),
  latest_version: z.number().nullable(),
  created_at: z.string(),
});

const message = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string().max(100_000),
});
export const promptOverride = z.strictObject({
  system: text(100_000).nullish(),
  mode: z.enum(["replace", "prepend"]).default("replace"),
  demos: z.array(message).max(200).default([]),
});

/** Per-version price override in USD per million tokens (fine-tuned models often differ). */
export const pricing = z.strictObject({
  input_per_mtok: z.number().min(0),
  output_per_mtok: z.number().min(0),
  cached_input_per_mtok: z.number().min(0).optional(),
});

export const versionCreate = z.strictObject({
  kind: z.enum(VERSION_KINDS, { error: `must be one of ${VERSION_KINDS.join(", ")}` }),
  upstream: nameSchema,
  model: z.string().min(1, "must not be empty").max(512),
  prompt: promptOverride.nullish(),
  params: jsonObject.nullish(),
  lineage: z
    .looseObject({
      parent_version: z.number().int().positive().optional(),
      dataset: z.string().max(512).optional(),
      fine_tune_job: z.string().max(512).optional(),
      base_model: z.string().max(512).optional(),
      optimizer: z.string().max(512).optional(),
      mlflow_model: z.string().max(512).optional(),
      mlflow_version: z.string().max(64).optional(),
      mlflow_run: z.string().max(512).optional(),
    })
    .nullish(),
  training_cost_usd: z.number().min(0, "must not be negative").nullish(),
  pricing: pricing.nullish(),
  tags: z.record(z.string().max(128), z.string().max(1024)).default({}),
});

export const version = z.object({
  system: z.string(),
  agent: z.string(),
  version: z.number(),
  kind: z.enum(VERSION_KINDS),
  upstream: z.string(),
  model: z.string(),
  prompt: z.unknown().nullable(),
  params: z.unknown().nullable(),
  lineage: z.unknown().nullable(),
  training_cost_usd: z.number().nullable(),
  pricing: z.unknown().nullable(),
  tags: z.record(z.string(), z.string()),
  aliases: z.array(z.string()),
  pinned: z.boolean(),
  created_by: z.string(),
  created_at: z.string(),
});

const reason = text(2000).nullish();
/** `versions.number` is a PostgreSQL integer: a larger number is refused here, not by the database. */
const MAX_VERSION = 2_147_483_647;
const versionNumber = z
  .number({ error: "must be a version number" })
  .int("must be an integer")
  .positive("must be positive")
  .max(MAX_VERSION, `must be at most ${MAX_VERSION}`);

export const aliasSet = z.strictObject({ version: versionNumber, reason });
export const pinSet = z.strictObject({ version: versionNumber, reason });
export const reasonOnly = z.strictObject({ reason }).default({});
export const rollbackBody = z.strictObject({ version: versionNumber.optional(), reason }).default({});

export const aliasView = z.object({
  alias: z.string(),
  version: z.number(),
  updated_by: z.string(),
  updated_at: z.string(),
});
export const aliasHistoryEntry = z.object({
  alias: z.string(),
  from_version: z.number().nullable(),
  to_version: z.number().nullable(),
  action: z.string(),
  reason: z.string().nullable(),
  actor: z.string(),
  at: z.string(),
});

export const rollbackResult = z.object({
  system: z.string(),
  agent: z.string(),
  version: z.number(),
  previous: z.number().nullable(),
  pinned: z.boolean(),
});

export const pathSystem = z.object({ system: nameSchema });
export const pathAgent = z.object({ system: nameSchema, agent: nameSchema });
export const pathVersion = pathAgent.extend({
  n: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "must be a positive integer")
    .transform(Number)
    .pipe(versionNumber),
});
export const pathAlias = pathAgent.extend({ alias: aliasNameSchema });
export const pathUpstream = z.object({ name: nameSchema });

export type UpstreamCreate = z.infer<typeof upstreamCreate>;
export type UpstreamUpdate = z.infer<typeof upstreamUpdate>;
export type UpstreamView = z.infer<typeof upstream>;
export type SystemCreate = z.infer<typeof systemCreate>;
export type SystemView = z.infer<typeof system>;
export type AgentCreate = z.infer<typeof agentCreate>;
export type AgentView = z.infer<typeof agent>;
export type VersionCreate = z.infer<typeof versionCreate>;
export type VersionView = z.infer<typeof version>;
export type AliasView = z.infer<typeof aliasView>;
export type AliasHistoryEntry = z.infer<typeof aliasHistoryEntry>;
export type RollbackResult = z.infer<typeof rollbackResult>;
