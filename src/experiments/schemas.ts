/** Request and response schemas of experiments. */
import { z } from "zod";
import { nameSchema } from "../registry/names.js";

export const DEFAULT_GUARDRAIL_ALPHA = 0.05;

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

const limit = (what: string) =>
  z
    .number({ error: `must be a number (${what})` })
    .min(0, "must be ≥ 0 (a tolerated margin; the direction comes from the limit's name)");

/**
 * A guardrail: a metric (built-in or declared) and what the treatment arms must not do to it.
 * No limit at all means "no worse than the control" (margin 0).
 */
export const guardrailInput = z
  .strictObject({
    metric: nameSchema,
    /** T − C must not exceed this (absolute, or a fraction of the control's value when `relative`). */
    max_increase: limit("tolerated increase").optional(),
    /** C − T must not exceed this (absolute, or a fraction of the control's value when `relative`). */
    max_decrease: limit("tolerated decrease").optional(),
    /** Margins are fractions of the control's value (0.1 = 10%) instead of metric units. */
    relative: z.boolean({ error: "must be true or false" }).default(false),
    /** Absolute ceiling on a treatment arm's observed value (an SLO, e.g. latency_p95_ms ≤ 2000). */
    max: z.number({ error: "must be a number" }).optional(),
    /** Absolute floor on a treatment arm's observed value (an SLO on a higher-is-better metric). */
    min: z.number({ error: "must be a number" }).optional(),
    /** Units per arm needed before the guardrail is judged; below it the check holds. */
    min_units: z
      .number({ error: "must be a number" })
      .int("must be an integer")
      .min(2, "must be at least 2")
      .max(100_000_000)
      .default(100),
  })
  .superRefine((g, ctx) => {
    if (g.max_increase !== undefined && g.max_decrease !== undefined)
      ctx.addIssue({
        code: "custom",
        message: "give max_increase or max_decrease, not both (one of them is an improvement)",
        path: ["max_decrease"],
      });
    if (g.relative && g.max_increase === undefined && g.max_decrease === undefined)
      ctx.addIssue({
        code: "custom",
        message: "relative applies to max_increase or max_decrease; give one of them",
        path: ["relative"],
      });
    if (g.max !== undefined && g.min !== undefined)
      ctx.addIssue({
        code: "custom",
        message: "give max (lower-is-better metrics) or min (higher-is-better metrics), not both",
        path: ["min"],
      });
  });

export const rampInput = z.strictObject({
  steps: z
    .array(
      z
        .number({ error: "must be a number (percent of traffic to the treatment arms)" })
        .gt(0, "must be in (0, 100]")
        .max(100, "must be in (0, 100]"),
      { error: "must be a list of percentages" },
    )
    .min(1, "must have at least one step")
    .max(20, "at most 20 steps")
    .refine((s) => s.every((v, i) => i === 0 || v > (s[i - 1] as number)), "must be strictly increasing"),
  hold_minutes: z
    .number({ error: "must be a number of minutes" })
    .min(0, "must be ≥ 0")
    .max(60 * 24 * 90, "must be at most 90 days"),
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
  /** Checked periodically; a breach stops the experiment (see guardrails.ts for the semantics). */
  guardrails: z.array(guardrailInput).max(20, "at most 20 guardrails").default([]),
  /**
   * Family-wise false-rollback rate: the chance that a treatment no worse than the control is
   * rolled back by any of the comparison guardrails, over the experiment's whole life.
   */
  guardrail_alpha: z
    .number({ error: "must be a number" })
    .gt(0, "must be in (0, 0.5]")
    .max(0.5, "must be in (0, 0.5]")
    .optional()
    .describe(`default ${DEFAULT_GUARDRAIL_ALPHA}`),
  /** Optional traffic ramp for the treatment arms, advanced while the guardrails hold. */
  ramp: rampInput.nullish(),
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
  guardrail_alpha: z.number(),
  ramp: z
    .object({
      steps: z.array(z.number()),
      hold_minutes: z.number(),
      /** Index of the current step (0-based); null until the experiment starts. */
      step: z.number().nullable(),
      /** Treatment share now, in percent; null until the experiment starts. */
      percent: z.number().nullable(),
      step_started_at: z.string().nullable(),
    })
    .nullable(),
  /** The guardian's last verdict (status, per-guardrail results, ramp), and when. */
  last_check: z.record(z.string(), z.unknown()).nullable(),
  last_check_at: z.string().nullable(),
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
export type GuardrailSpec = z.infer<typeof guardrailInput>;
export type RampSpec = z.infer<typeof rampInput>;
export type ExperimentView = z.infer<typeof experimentView>;
export type ExperimentStatus = (typeof STATUSES)[number];
export type Unit = (typeof UNITS)[number];
