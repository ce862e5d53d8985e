/** What a sync did (or, for a dry run, would do), object by object, and the request that asks for one. */
import { z } from "zod";
import { nameSchema } from "../registry/names.js";

export const DIRECTIONS = ["push", "pull", "both"] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const syncRequest = z
  .strictObject({
    system: nameSchema.optional(),
    agent: nameSchema.optional(),
    direction: z.enum(DIRECTIONS, { error: `must be one of ${DIRECTIONS.join(", ")}` }).default("both"),
    dry_run: z.boolean({ error: "must be a boolean" }).default(false),
  })
  .refine((r) => r.agent === undefined || r.system !== undefined, {
    message: "agent needs system",
    path: ["agent"],
  });
export type SyncRequest = z.infer<typeof syncRequest>;

export const OBJECTS = ["registered_model", "model_version", "alias", "agentgate_version"] as const;
export const ACTIONS = ["created", "updated", "deleted", "unchanged", "skipped", "failed"] as const;
export type SyncAction = (typeof ACTIONS)[number];

export const syncItem = z.object({
  object: z.enum(OBJECTS),
  action: z.enum(ACTIONS),
  /** `system/agent`. */
  agent: z.string(),
  mlflow_model: z.string(),
  /** Null when not known yet (a dry run's creations). */
  mlflow_version: z.string().nullable(),
  /** The agentgate version, when the object is one or mirrors one. */
  version: z.number().nullable(),
  alias: z.string().nullable(),
  /** What changed, or why it was skipped or failed. */
  detail: z.string().nullable(),
});
export type SyncItem = z.infer<typeof syncItem>;

const summary = z.object(
  Object.fromEntries(ACTIONS.map((a) => [a, z.number()])) as Record<SyncAction, z.ZodNumber>,
);

export const syncReport = z.object({
  direction: z.enum(DIRECTIONS),
  dry_run: z.boolean(),
  /** The tracking server, without credentials. */
  mlflow_uri: z.string(),
  agents: z.number(),
  started_at: z.string(),
  finished_at: z.string(),
  summary,
  items: z.array(syncItem),
});
export type SyncReport = z.infer<typeof syncReport>;

type ItemInput = Pick<SyncItem, "object" | "action" | "agent" | "mlflow_model"> & Partial<SyncItem>;

export class ReportBuilder {
  readonly items: SyncItem[] = [];

  add(i: ItemInput): void {
    this.items.push({
      mlflow_version: null,
      version: null,
      alias: null,
      detail: null,
      ...i,
    });
  }

  summary(): Record<SyncAction, number> {
    const out = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<SyncAction, number>;
    for (const i of this.items) out[i.action]++;
    return out;
  }
}

export const linksQuery = z
  .strictObject({ system: nameSchema.optional(), agent: nameSchema.optional() })
  .refine((q) => q.agent === undefined || q.system !== undefined, {
    message: "agent needs system",
    path: ["agent"],
  });

export const linkView = z.object({
  system: z.string(),
  agent: z.string(),
  version: z.number(),
  registered_model: z.string(),
  model_version: z.string(),
  run_id: z.string().nullable(),
  /** `push`: agentgate created or adopted the model version; `pull`: imported from MLflow. */
  origin: z.enum(["push", "pull"]),
  synced_at: z.string(),
});
export type LinkView = z.infer<typeof linkView>;
