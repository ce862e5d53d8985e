/**
 * Feedback: a value of a declared metric for one call (`request_id`) or one workflow run
 * (`session_id`). It is stored as sent; reports attribute it to arms later (a call's feedback
 * follows its event's arm, a run's follows the arm its session was assigned).
 *
 * The target must exist as an inference event. Events are written off the request path, in
 * batches, so an agent that sends feedback right after a call may ask before its event is stored:
 * if this replica still holds it, it is written at once; otherwise (another replica answered the
 * call) the id is looked up again for a short while before the answer is 404.
 *
 * A client may send an `idempotency_key`: repeating a POST with the same key and the same content
 * stores nothing new and answers the stored record; the same key with other content is a conflict.
 */
import type { Knex } from "knex";
import { z } from "zod";
import type { Actor } from "../auth/scopes.js";
import { AppError, sqlStateOf, UNIQUE_VIOLATION } from "../errors.js";
import type { EventRecorder } from "../events/recorder.js";
import type { Metrics } from "../metrics.js";
import { nameSchema } from "../registry/names.js";
import { DECLARE_HINT, findDeclaredMetric, isBuiltInMetric } from "./metrics.js";

export const LEVELS = ["call", "session"] as const;
export type Level = (typeof LEVELS)[number];

const MAX_ID = 256;
const idField = (what: string) =>
  z
    .string({ error: `must be a string (the ${what})` })
    .min(1, "must not be empty")
    .max(MAX_ID, `must be at most ${MAX_ID} characters`);

export const feedbackCreate = z
  .strictObject({
    request_id: idField("x-agentgate-request-id of the call").nullish(),
    session_id: idField("X-Session-Id of the workflow run").nullish(),
    metric: nameSchema,
    value: z.union([z.boolean(), z.number()], {
      error: "must be true, false or a number",
    }),
    comment: z.string().max(2000, "must be at most 2000 characters").nullish(),
    idempotency_key: z
      .string()
      .min(1, "must not be empty")
      .max(200, "must be at most 200 characters")
      .nullish(),
  })
  .superRefine((b, ctx) => {
    if ((b.request_id == null) === (b.session_id == null)) {
      ctx.addIssue({
        code: "custom",
        message:
          "give exactly one of request_id (feedback on one call) or session_id (feedback on a workflow run)",
        path: [],
      });
    }
  });

export const feedbackView = z.object({
  id: z.number(),
  metric: z.string(),
  /** As stored: boolean metrics as 1 or 0. */
  value: z.number(),
  request_id: z.string().nullable(),
  session_id: z.string().nullable(),
  level: z.enum(LEVELS),
  comment: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  actor: z.string(),
  at: z.string(),
});

export const feedbackListQuery = z.strictObject({
  request_id: z.string().min(1).max(MAX_ID).optional(),
  session_id: z.string().min(1).max(MAX_ID).optional(),
  metric: nameSchema.optional(),
  before: z.coerce.number().int().positive().optional().describe("return records older than this id"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export type FeedbackCreate = z.infer<typeof feedbackCreate>;
export type FeedbackView = z.infer<typeof feedbackView>;
export type FeedbackListQuery = z.infer<typeof feedbackListQuery>;

type FeedbackRow = {
  id: number;
  idempotency_key: string | null;
  metric: string;
  value: number;
  request_id: string | null;
  session_id: string | null;
  comment: string | null;
  actor: string;
  at: Date;
};

const present = (r: FeedbackRow): FeedbackView => ({
  id: Number(r.id),
  metric: r.metric,
  value: Number(r.value),
  request_id: r.request_id,
  session_id: r.session_id,
  level: r.request_id !== null ? "call" : "session",
  comment: r.comment,
  idempotency_key: r.idempotency_key,
  actor: r.actor,
  at: new Date(r.at).toISOString(),
});

export type FeedbackOptions = {
  /** How long an unknown request or session id is looked for before the answer is 404. */
  eventWaitMs?: number;
  /** This replica's event recorder: writes the target's events now if it still holds them. */
  recorder?: Pick<EventRecorder, "settle">;
};

/** Pauses between look-ups of a not-yet-stored event: quick at first, then slower. */
const WAIT_STEPS_MS = [25, 50, 75, 100, 150, 200, 300, 600];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type FeedbackResult = { record: FeedbackView; created: boolean };

export class FeedbackService {
  private readonly eventWaitMs: number;
  private readonly recorder: FeedbackOptions["recorder"];

  constructor(
    private readonly db: Knex,
    private readonly metrics: Metrics,
    opts: FeedbackOptions = {},
  ) {
    this.eventWaitMs = opts.eventWaitMs ?? 1500;
    this.recorder = opts.recorder;
  }

  async record(actor: Actor, input: FeedbackCreate): Promise<FeedbackResult> {
    const metric = await findDeclaredMetric(this.db, input.metric);
    if (!metric) {
      if (isBuiltInMetric(input.metric)) {
        throw new AppError(
          "invalid_request",
          `metric: '${input.metric}' is a built-in metric, computed from the calls themselves; it takes no feedback`,
          "metric",
        );
      }
      throw new AppError(
        "metric_not_found",
        `metric '${input.metric}' is not declared: ${DECLARE_HINT}`,
        "metric",
      );
    }
    const value = storedValue(metric.name, metric.type, input.value);
    const fields = {
      metric: metric.name,
      value,
      request_id: input.request_id ?? null,
      session_id: input.session_id ?? null,
      comment: input.comment ?? null,
    };

    const key = input.idempotency_key ?? null;
    if (key !== null) {
      const replay = await this.replay(key, fields);
      if (replay) return replay;
    }
    await this.assertTargetExists(fields.request_id, fields.session_id);

    let row: FeedbackRow;
    try {
      [row] = await this.db("feedback")
        .insert({ ...fields, idempotency_key: key, actor: actor.name })
        .returning("*");
    } catch (err) {
      // Two POSTs with the same key at once: the second insert loses and answers as a replay.
      if (key !== null && sqlStateOf(err) === UNIQUE_VIOLATION) {
        const replay = await this.replay(key, fields);
        if (replay) return replay;
      }
      throw err;
    }
    const record = present(row);
    this.metrics.feedbackTotal.inc({ metric: record.metric, level: record.level });
    await this.observe(record);
    return { record, created: true };
  }

  /**
   * `agentgate_feedback_value` by arm, attributed as the report does: a call's value to its
   * event's experiment arm, a run's value to each arm its events were in. A metric is a live
   * view only, so a failed look-up costs the observation, never the stored feedback.
   */
  private async observe(record: FeedbackView): Promise<void> {
    try {
      // The system is the client's X-Agent text until the agent resolved: "unknown" keeps the
      // label set bounded.
      const rows: { system: string; experiment: string | null; arm: string | null }[] = await this.db(
        "inference_events as e",
      )
        .leftJoin("experiments as x", "x.id", "e.experiment_id")
        .where(
          record.request_id !== null
            ? { "e.request_id": record.request_id }
            : { "e.session_id": record.session_id },
        )
        .distinct(
          this.db.raw("CASE WHEN e.agent_id IS NULL THEN 'unknown' ELSE e.system END AS system"),
          "x.name as experiment",
          "e.arm",
        );
      const inExperiment = rows.filter((r) => r.experiment !== null && r.arm !== null);
      const targets = inExperiment.length > 0 ? inExperiment : rows;
      for (const r of targets) {
        this.metrics.feedbackValue.observe(
          {
            system: r.system,
            experiment: r.experiment ?? "none",
            arm: r.arm ?? "none",
            metric: record.metric,
          },
          record.value,
        );
      }
    } catch {
      // The feedback is stored; only its live metric is missed.
    }
  }

  async list(q: FeedbackListQuery): Promise<FeedbackView[]> {
    const query = this.db("feedback").select("*").orderBy("id", "desc").limit(q.limit);
    if (q.request_id !== undefined) query.where("request_id", q.request_id);
    if (q.session_id !== undefined) query.where("session_id", q.session_id);
    if (q.metric !== undefined) query.where("metric", q.metric);
    if (q.before !== undefined) query.where("id", "<", q.before);
    const rows: FeedbackRow[] = await query;
    return rows.map(present);
  }

  /** The stored record for `key` if its content matches; a conflict if it does not; else null. */
  private async replay(
    key: string,
    fields: Pick<FeedbackRow, "metric" | "value" | "request_id" | "session_id" | "comment">,
  ): Promise<FeedbackResult | null> {
    const existing: FeedbackRow | undefined = await this.db("feedback")
      .where({ idempotency_key: key })
      .first();
    if (!existing) return null;
    const differs = (Object.keys(fields) as (keyof typeof fields)[]).filter((k) =>
      k === "value" ? Number(existing.value) !== fields.value : existing[k] !== fields[k],
    );
    if (differs.length > 0) {
      throw new AppError(
        "idempotency_conflict",
        `idempotency_key '${key}' was already used for feedback ${existing.id} with a different ${differs.join(", ")}; use a new key for new feedback`,
        "idempotency_key",
      );
    }
    return { record: present(existing), created: false };
  }

  private async assertTargetExists(requestId: string | null, sessionId: string | null): Promise<void> {
    const exists = () =>
      requestId !== null
        ? this.db("inference_events").where({ request_id: requestId }).first("request_id")
        : this.db("inference_events").where({ session_id: sessionId }).first("request_id");
    const deadline = Date.now() + this.eventWaitMs;
    for (let step = 0; ; step++) {
      if (await exists()) return;
      // The call may have been answered by this replica, its event still queued: write it now.
      if (step === 0 && this.recorder) {
        await this.recorder.settle({ requestId, sessionId });
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(WAIT_STEPS_MS[Math.min(step, WAIT_STEPS_MS.length - 1)] ?? 100, left));
    }
    if (requestId !== null) {
      throw new AppError(
        "request_not_found",
        `request '${requestId}' not found: no call with this x-agentgate-request-id has been recorded`,
        "request_id",
      );
    }
    throw new AppError(
      "session_not_found",
      `session '${sessionId}' not found: no call with this X-Session-Id has been recorded`,
      "session_id",
    );
  }
}

/** The number stored for `value`: 1/0 for a boolean metric, the number itself for a float one. */
function storedValue(metric: string, type: "boolean" | "float", value: boolean | number): number {
  if (type === "boolean") {
    if (value === true || value === 1) return 1;
    if (value === false || value === 0) return 0;
    throw new AppError(
      "invalid_request",
      `value: metric '${metric}' is boolean: send true or false (or 1 or 0), got ${JSON.stringify(value)}`,
      "value",
    );
  }
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new AppError(
      "invalid_request",
      `value: metric '${metric}' is a float: send a finite number, got ${JSON.stringify(value)}`,
      "value",
    );
  }
  return value;
}
