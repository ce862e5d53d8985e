/** Admin API routes of fine-tune jobs: launch, list, show (refreshed), events, cancel. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import {
  eventsQuery,
  fineTuneCreate,
  fineTuneEvent,
  fineTuneView,
  listQuery,
  pathFineTune,
} from "./schemas.js";
import type { FineTuneService } from "./service.js";

const cancelBody = z.strictObject({ reason: z.string().max(2000).nullish() }).default({});

export function fineTuneRoutes(fineTunes: FineTuneService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/fine-tunes",
      scope: "write",
      tag: "fine-tunes",
      summary:
        "Launch a fine-tune of a dataset on a trainer (an upstream serving the OpenAI fine-tuning API); on success a fine_tuned version is registered for each agent",
      body: fineTuneCreate,
      response: {
        status: 201,
        schema: fineTuneView,
        description:
          "The job as stored. 502 upstream_error / 504 upstream_timeout when the trainer refuses or cannot be reached (with its message).",
      },
      handler: ({ actor, body }) => fineTunes.launch(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/fine-tunes",
      scope: "read",
      tag: "fine-tunes",
      summary: "List fine-tune jobs, newest first (as stored; show one to refresh it)",
      query: listQuery,
      response: { schema: z.object({ data: z.array(fineTuneView), next_before: z.number().nullable() }) },
      handler: async ({ query }) => {
        const data = await fineTunes.list(query);
        return { data, next_before: data.length === query.limit ? (data.at(-1)?.id ?? null) : null };
      },
    }),
    defineRoute({
      method: "get",
      path: "/fine-tunes/:id",
      scope: "read",
      tag: "fine-tunes",
      summary:
        "Show a fine-tune job, refreshed from its trainer while it runs (a trainer that cannot be reached leaves poll_error set)",
      params: pathFineTune,
      response: { schema: fineTuneView },
      handler: ({ params }) => fineTunes.refresh(params.id),
    }),
    defineRoute({
      method: "get",
      path: "/fine-tunes/:id/events",
      scope: "read",
      tag: "fine-tunes",
      summary: "The trainer's events of a job, newest first (page with ?after=<event id>)",
      params: pathFineTune,
      query: eventsQuery,
      response: {
        schema: z.object({ object: z.literal("list"), data: z.array(fineTuneEvent), has_more: z.boolean() }),
      },
      handler: ({ params, query }) => fineTunes.events(params.id, query),
    }),
    defineRoute({
      method: "post",
      path: "/fine-tunes/:id/cancel",
      scope: "write",
      tag: "fine-tunes",
      summary: "Cancel a running fine-tune job on its trainer",
      params: pathFineTune,
      body: cancelBody,
      response: { schema: fineTuneView, description: "409 invalid_state when the job already ended." },
      handler: ({ actor, params, body }) => fineTunes.cancel(actor, params.id, body.reason ?? null),
    }),
  ];
}
