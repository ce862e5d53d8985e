/** Request and response schemas of datasets. */
import { z } from "zod";
import { LEVELS } from "../experiments/feedback.js";
import { nameSchema, parseAgentRef } from "../registry/names.js";
import { DROP_REASONS, FORMATS, PROMPT_MODES } from "./build.js";

export const MODES = ["per_agent", "global"] as const;
export type Mode = (typeof MODES)[number];
export const MIN_EXAMPLES = 10;
export const DEFAULT_MAX_TOKENS = 16_384;

const agentRef = z
  .string({ error: "must be 'system/agent'" })
  .refine((s) => parseAgentRef(s) !== null, "must be 'system/agent' (lowercase names)");

const versionNumber = z
  .number({ error: "must be a version number" })
  .int("must be an integer")
  .positive("must be positive")
  .max(2_147_483_647);

const timestamp = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z",
});

const feedbackFilter = z
  .strictObject({
    metric: nameSchema,
    /** Keep calls whose (latest) feedback value is at least this. */
    min: z.number({ error: "must be a number" }).optional(),
    /** ... at most this. */
    max: z.number({ error: "must be a number" }).optional(),
    /** ... exactly this (true/false for boolean metrics). */
    equals: z.union([z.boolean(), z.number()], { error: "must be true, false or a number" }).optional(),
    /** `session`: the workflow run's feedback (X-Session-Id); `call`: the call's own feedback. */
    level: z.enum(LEVELS, { error: `must be one of ${LEVELS.join(", ")}` }).default("session"),
  })
  .refine(
    (f) => f.min !== undefined || f.max !== undefined || f.equals !== undefined,
    "give at least one of min, max or equals",
  );

export const datasetFilters = z
  .strictObject({
    /** Per agent (`system/agent`), the versions whose answers to keep (the version that served). */
    versions: z
      .record(agentRef, z.array(versionNumber).min(1, "must list at least one version").max(100))
      .optional(),
    /** Experiment arms (by name) the calls were assigned to. */
    arms: z.array(nameSchema).min(1, "must list at least one arm").max(50).optional(),
    /** The experiment the calls were part of. */
    experiment: z.number().int().positive().max(2_147_483_647).optional(),
    /** Calls at or after this time. */
    since: timestamp.optional(),
    /** Calls before this time. */
    until: timestamp.optional(),
    feedback: feedbackFilter.optional(),
  })
  .refine(
    (f) => f.since === undefined || f.until === undefined || Date.parse(f.since) < Date.parse(f.until),
    { message: "must be after since", path: ["until"] },
  );

export const datasetCreate = z
  .strictObject({
    name: z
      .string({ error: "must be a string" })
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
        "must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
      ),
    agents: z
      .array(agentRef, { error: "must be a list of 'system/agent'" })
      .min(1, "must name at least one agent")
      .max(100, "must name at most 100 agents")
      .refine((a) => new Set(a).size === a.length, "must not name an agent twice"),
    /** `per_agent`: one file per agent; `global`: one file for all of them. */
    mode: z.enum(MODES, { error: `must be one of ${MODES.join(", ")}` }).default("per_agent"),
    /** At most this many examples per agent (the most recent are kept). */
    per_agent_cap: z
      .number()
      .int("must be an integer")
      .positive("must be positive")
      .max(1_000_000)
      .optional(),
    format: z.enum(FORMATS, { error: `must be one of ${FORMATS.join(", ")}` }).default("openai"),
    /** Which conversation to train on (see the docs): as served (default), without demos, or as sent. */
    prompt: z.enum(PROMPT_MODES, { error: `must be one of ${PROMPT_MODES.join(", ")}` }).default("served"),
    max_tokens_per_example: z
      .number()
      .int("must be an integer")
      .min(16, "must be at least 16")
      .max(1_000_000, "must be at most 1000000")
      .default(DEFAULT_MAX_TOKENS),
    /** Train only the final answer (OpenAI `weight`, TRL prompt-completion). */
    weight_assistant: z.boolean({ error: "must be true or false" }).default(true),
    filters: datasetFilters.default({}),
  })
  .superRefine((b, ctx) => {
    for (const ref of Object.keys(b.filters.versions ?? {})) {
      if (!b.agents.includes(ref))
        ctx.addIssue({
          code: "custom",
          path: ["filters", "versions", ref],
          message: `'${ref}' is not one of the dataset's agents`,
        });
    }
  });

export type DatasetCreate = z.infer<typeof datasetCreate>;

const tokenStats = z.object({ min: z.number(), mean: z.number(), max: z.number(), total: z.number() });
const dropped = z.partialRecord(z.enum(DROP_REASONS), z.number());

export const datasetFile = z.object({
  /** `system/agent`, or `*` for the one file of a global dataset. */
  agent: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  examples: z.number(),
  tokens: tokenStats,
  dropped,
});

export const datasetView = z.object({
  id: z.number(),
  name: z.string(),
  format: z.enum(FORMATS),
  mode: z.enum(MODES),
  agents: z.array(z.string()),
  filters: z.record(z.string(), z.unknown()),
  options: z.object({
    prompt: z.enum(PROMPT_MODES),
    per_agent_cap: z.number().nullable(),
    max_tokens_per_example: z.number(),
    weight_assistant: z.boolean(),
  }),
  /**
   * SHA-256 of the content: of the one file when there is one (= of the downloaded bytes); of the
   * `sha256sum`-style manifest (`<sha256>  <system>/<agent>.jsonl` per line) when there are several.
   */
  content_sha256: z.string(),
  examples: z.number(),
  /** Captured calls that matched the filters (examples + dropped). */
  considered: z.number(),
  tokens: tokenStats,
  dropped,
  files: z.array(datasetFile),
  created_by: z.string(),
  created_at: z.string(),
});

export type DatasetView = z.infer<typeof datasetView>;
export type TokenStats = z.infer<typeof tokenStats>;

export const pathDataset = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "must be a dataset id (a positive integer)")
    .transform(Number)
    .pipe(z.number().max(2_147_483_647, "must be a dataset id")),
});

export const downloadQuery = z.strictObject({
  agent: agentRef.optional().describe("the agent's file, for a per-agent dataset of several agents"),
});

export const listQuery = z.strictObject({
  before: z.coerce.number().int().positive().optional().describe("return datasets older than this id"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
