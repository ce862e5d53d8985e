/** Request and response schemas of experiments. */
import { z } from "zod";
import { nameSchema } from "../registry/names.js";

export const UNITS = ["session", "user", "request"] as const;
export const STATUSES = ["draft", "running", "paused", "stopped"] as const;

const versionNumber = z
  .number({ error: "must be a version number" })
  .int("must be an integer")
  .positive("must be positive");

export const armInput = z.strictObject({
  name: nameSchema,
  weight: z.number({ error: "must be a number" }).positive("must be positive").max(1_000_000),
  /** agent name → version number of that agent */
  versions: z
    .record(nameSchema, versionNumber, { error: "must map agent names to version numbers" })
    .refine((v) => Object.keys(v).length > 0, "must name at least one agent's version"),
});

export const experimentCreate = z.strictObject({
  name: nameSchema,
  system: nameSchema,
  agent: nameSchema.nullish(),
  unit: z.enum(UNITS, { error: `must be one of ${UNITS.join(", ")}` }).default("session"),
  description: z.string().max(2000).nullish(),
  arms: z
    .array(armInput, { error: "must be a list of arms" })
    .min(2, "an experiment needs at least 2 arms")
    .max(10, "at most 10 arms")
    .refine((arms) => new Set(arms.map((a) => a.name)).size === arms.length, "arm names must be unique"),
  primary_metric: nameSchema.nullish(),
  secondary_metrics: z.array(nameSchema).max(20).default([]),
  guardrails: z
    .array(z.looseObject({ metric: nameSchema }))
    .max(20)
    .default([]),
  /** On an upstream fault before the first byte, retry an experimental call on the champion. */
  fallback_to_champion: z.boolean().default(true),
});

export const experimentView = z.object({
  id: z.number(),
  name: z.string(),
  system: z.string(),
  agent: z.string().nullable(),
  scope: z.enum(["agent", "system"]),
  unit: z.enum(UNITS),
  status: z.enum(STATUSES),
  salt: z.string(),
  description: z.string().nullable(),
  arms: z.array(
    z.object({ name: z.string(), weight: z.number(), versions: z.record(z.string(), z.number()) }),
  ),
  primary_metric: z.string().nullable(),
  secondary_metrics: z.array(z.string()),
  guardrails: z.array(z.record(z.string(), z.unknown())),
  fallback_to_champion: z.boolean(),
  created_by: z.string(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  end_reason: z.string().nullable(),
});

export const pathExperiment = z.object({
  id: z.coerce.number({ error: "must be an experiment id" }).int().positive("must be a positive integer"),
});
export const listQuery = z.strictObject({
  status: z.enum(STATUSES).optional(),
  system: nameSchema.optional(),
});
export const stopBody = z.strictObject({ reason: z.string().max(2000).nullish() }).default({});

export type ExperimentCreate = z.infer<typeof experimentCreate>;
export type ExperimentView = z.infer<typeof experimentView>;
export type ExperimentStatus = (typeof STATUSES)[number];
export type Unit = (typeof UNITS)[number];
