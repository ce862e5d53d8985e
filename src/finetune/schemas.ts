/** Request and response schemas of fine-tune jobs. */
import { z } from "zod";
import { nameSchema, parseAgentRef } from "../registry/names.js";
import { promptOverride } from "../registry/schemas.js";

/** The statuses of OpenAI's `fine_tuning.job` (openai-node `FineTuningJob.status`). */
export const STATUSES = [
  "validating_files",
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
] as const;
export type Status = (typeof STATUSES)[number];
export const TERMINAL: readonly Status[] = ["succeeded", "failed", "cancelled"];

const agentRef = z
  .string({ error: "must be 'system/agent'" })
  .refine((s) => parseAgentRef(s) !== null, "must be 'system/agent' (lowercase names)");

const auto = (what: string) =>
  z.union([z.literal("auto"), z.number({ error: `${what} must be 'auto' or a number` }).positive()]);

/** Supervised/DPO hyperparameters as OpenAI takes them (openai-node `fine-tuning/methods.ts`). */
export const hyperparameters = z.strictObject({
  n_epochs: auto("n_epochs").optional(),
  batch_size: auto("batch_size").optional(),
  learning_rate_multiplier: auto("learning_rate_multiplier").optional(),
  beta: auto("beta").optional(),
});

/** OpenAI's `method`; passed through to the trainer as given. */
export const method = z.looseObject({
  type: z.enum(["supervised", "dpo", "reinforcement"], {
    error: "must be one of supervised, dpo, reinforcement",
  }),
});

export const registerOptions = z.strictObject({
  /** Upstream that serves the fine-tuned model (default: the trainer itself). */
  upstream: nameSchema.optional(),
  /** Prompt override of the new versions, e.g. shorter instructions the fine-tune made unnecessary. */
  prompt: promptOverride.nullish(),
  params: z.record(z.string(), z.unknown()).nullish(),
  tags: z.record(z.string().max(128), z.string().max(1024)).optional(),
});

export const fineTuneCreate = z.strictObject({
  /** Dataset id (see /datasets). */
  dataset: z.number({ error: "must be a dataset id" }).int().positive().max(2_147_483_647),
  /** Upstream name of the trainer (an OpenAI-compatible fine-tuning API). */
  trainer: nameSchema,
  base_model: z.string().min(1, "must not be empty").max(512),
  /** The agents that get a version on success; default: the dataset's agents. */
  agents: z
    .array(agentRef)
    .min(1, "must name at least one agent")
    .max(100)
    .refine((a) => new Set(a).size === a.length, "must not name an agent twice")
    .optional(),
  /** OpenAI allows up to 64 characters; it becomes part of the model name. */
  suffix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 characters of letters, digits, '.', '_' or '-'")
    .optional(),
  hyperparameters: hyperparameters.optional(),
  method: method.optional(),
  seed: z.number().int().min(0).max(2_147_483_647).optional(),
  register: registerOptions.default({}),
});
export type FineTuneCreate = z.infer<typeof fineTuneCreate>;
export type RegisterOptions = z.infer<typeof registerOptions>;

const errorView = z.object({
  code: z.string().nullable(),
  message: z.string(),
  param: z.string().nullable(),
});

export const fineTuneView = z.object({
  id: z.number(),
  /** `api` (POST /fine-tunes) or `openai` (POST /v1/fine_tuning/jobs, e.g. from DSPy). */
  origin: z.string(),
  status: z.enum(STATUSES),
  trainer: z.string(),
  trainer_job_id: z.string(),
  trainer_file_id: z.string(),
  dataset: z.object({ id: z.number(), sha256: z.string(), file: z.string() }),
  base_model: z.string(),
  agents: z.array(z.string()),
  suffix: z.string().nullable(),
  hyperparameters: z.unknown().nullable(),
  method: z.unknown().nullable(),
  register: z.unknown(),
  fine_tuned_model: z.string().nullable(),
  trained_tokens: z.number().nullable(),
  training_cost_usd: z.number().nullable(),
  /** Why the cost is null (no training price for the base model, or no trained tokens). */
  cost_note: z.string().nullable(),
  /** The trainer's error when the job failed. */
  error: errorView.nullable(),
  /** The last failure to reach the trainer while following the job (cleared on success). */
  poll_error: z.string().nullable(),
  versions: z.array(z.object({ agent: z.string(), version: z.number() })),
  created_by: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  finished_at: z.string().nullable(),
});
export type FineTuneView = z.infer<typeof fineTuneView>;

export const fineTuneEvent = z.object({
  id: z.string(),
  created_at: z.number(),
  level: z.string(),
  message: z.string(),
  type: z.string().optional(),
  data: z.unknown().optional(),
});

export const pathFineTune = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "must be a fine-tune id (a positive integer)")
    .transform(Number)
    .pipe(z.number().max(2_147_483_647, "must be a fine-tune id")),
});

export const listQuery = z.strictObject({
  before: z.coerce.number().int().positive().optional().describe("return jobs older than this id"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  status: z.enum(STATUSES).optional(),
});

export const eventsQuery = z.strictObject({
  after: z.string().max(256).optional().describe("the trainer's event id to page after"),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
