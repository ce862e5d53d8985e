/** Admin API route to see what happened to one proxied call. */
import type { Knex } from "knex";
import { z } from "zod";
import { notFound } from "../errors.js";
import { defineRoute, type RouteSpec } from "../http/route.js";
import type { EventRecorder } from "./recorder.js";

const event = z.object({
  request_id: z.string(),
  at: z.string(),
  system: z.string(),
  agent: z.string(),
  route: z.string().nullable(),
  experiment_id: z.number().nullable(),
  arm: z.string().nullable(),
  assigned_version: z.number().nullable(),
  served_version: z.number().nullable(),
  served_model: z.string().nullable(),
  upstream: z.string().nullable(),
  fallback: z.boolean(),
  stream: z.boolean(),
  status: z.number(),
  error_class: z.string().nullable(),
  session_id: z.string().nullable(),
  user_id: z.string().nullable(),
  unit_key: z.string().nullable(),
  latency_ms: z.number().nullable(),
  upstream_ms: z.number().nullable(),
  ttft_ms: z.number().nullable(),
  prompt_tokens: z.number().nullable(),
  completion_tokens: z.number().nullable(),
  cached_tokens: z.number().nullable(),
  cost_usd: z.number().nullable(),
});

/**
 * With the recorder, a call's event still queued on this replica is written at once
 * (EventRecorder.settle): a call shows here as soon as it is answered, whatever the flush interval.
 */
export function eventRoutes(db: Knex, recorder?: Pick<EventRecorder, "settle">): RouteSpec[] {
  return [
    defineRoute({
      method: "get",
      path: "/requests/:id",
      scope: "read",
      tag: "events",
      summary: "What happened to one proxied call (its inference event)",
      params: z.object({ id: z.string().min(1).max(128) }),
      response: { schema: event },
      handler: async ({ params }) => {
        const find = () => db("inference_events").where({ request_id: params.id }).first();
        let row = await find();
        if (!row && recorder) {
          await recorder.settle({ requestId: params.id });
          row = await find();
        }
        if (!row)
          throw notFound(
            "request_not_found",
            `request '${params.id}' (events are written within a second of the answer)`,
          );
        const { agent_id: _agentId, ...rest } = row;
        return { ...rest, at: new Date(row.at).toISOString() };
      },
    }),
  ];
}
