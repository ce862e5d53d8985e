/** Admin API routes of feedback: agents post it with a `feedback` token; people read it. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { type FeedbackService, feedbackCreate, feedbackListQuery, feedbackView } from "./feedback.js";

export function feedbackRoutes(feedback: FeedbackService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/feedback",
      scope: "feedback",
      tag: "feedback",
      summary:
        "Record a metric value for a call (request_id) or a workflow run (session_id); idempotent on idempotency_key",
      body: feedbackCreate,
      response: {
        status: 201,
        schema: feedbackView,
        description:
          "Stored. A repeated POST with the same idempotency_key and content answers 200 with the stored record (header Idempotent-Replayed: true).",
      },
      handler: async ({ actor, body, res }) => {
        const { record, created } = await feedback.record(actor, body);
        if (created) return record;
        res.setHeader("idempotent-replayed", "true");
        res.status(200).json(record);
        return undefined;
      },
    }),
    defineRoute({
      method: "get",
      path: "/feedback",
      scope: "read",
      tag: "feedback",
      summary: "List feedback, newest first, by request_id, session_id or metric",
      query: feedbackListQuery,
      response: { schema: z.object({ data: z.array(feedbackView), next_before: z.number().nullable() }) },
      handler: async ({ query }) => {
        const data = await feedback.list(query);
        return { data, next_before: data.length === query.limit ? (data.at(-1)?.id ?? null) : null };
      },
    }),
  ];
}
