/** Admin API route for reading the audit log. */
import type { Knex } from "knex";
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { listAudit } from "./audit.js";

const entry = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  object_type: z.string(),
  object_key: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  reason: z.string().nullable(),
});

const query = z.strictObject({
  object_type: z.string().max(64).optional(),
  object: z
    .string()
    .max(200)
    .optional()
    .describe("object key, e.g. `support/coordinator`; a trailing `/` matches a prefix"),
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  before: z.coerce.number().int().positive().optional().describe("return entries older than this id"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function auditRoutes(db: Knex): RouteSpec[] {
  return [
    defineRoute({
      method: "get",
      path: "/audit",
      scope: "read",
      tag: "audit",
      summary: "Read the audit log, newest first",
      query,
      response: { schema: z.object({ data: z.array(entry), next_before: z.number().nullable() }) },
      handler: async ({ query: q }) => {
        const data = await listAudit(db, {
          objectType: q.object_type,
          objectKey: q.object,
          actor: q.actor,
          action: q.action,
          before: q.before,
          limit: q.limit,
        });
        return { data, next_before: data.length === q.limit ? (data.at(-1)?.id ?? null) : null };
      },
    }),
  ];
}
