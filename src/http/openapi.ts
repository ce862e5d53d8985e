/**
 * The OpenAPI 3.1 document, generated from the route declarations: the zod schemas that validate
 * requests are converted to JSON Schema here, so the document and the validation cannot disagree.
 */
import { type ZodType, z } from "zod";
import type { MountedRoute } from "./route.js";

type JsonSchema = Record<string, unknown>;

const toSchema = (schema: ZodType, io: "input" | "output"): JsonSchema => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    target: "draft-2020-12",
  });
  return rest;
};

function parameters(schema: ZodType | undefined, where: "path" | "query"): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, "input") as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    ...(s.description ? { description: s.description } : {}),
    schema: s,
  }));
}

const errorRef = { $ref: "#/components/schemas/Error" };
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: errorRef } },
});

export type OpenApiInfo = { title: string; version: string; description?: string };

export function buildOpenApi(routes: MountedRoute[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.fullPath.replace(/:([A-Za-z_]+)/g, "{$1}");
    const status = String(r.response?.status ?? (r.response?.schema ? 200 : 204));
    const responses: Record<string, unknown> = {
      [status]: r.response?.schema
        ? {
            description: r.response.description ?? "OK",
            content: {
              [r.response.contentType ?? "application/json"]: {
                schema: toSchema(r.response.schema, "output"),
              },
            },
          }
        : { description: r.response?.description ?? "Done, no content" },
      "400": errorResponse("Invalid request"),
      default: errorResponse("Error"),
    };
    if (r.scope) {
      responses["401"] = errorResponse("Missing or invalid token");
      responses["403"] = errorResponse(`Token lacks the '${r.scope}' scope`);
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method}${path.replace(/[{}]/g, "").replace(/[/_-]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...parameters(r.params, "path"), ...parameters(r.query, "query")],
      responses,
      ...(r.scope ? { security: [{ bearer: [] }], "x-required-scope": r.scope } : { security: [] }),
    };
    if (r.body) {
      op.requestBody = {
        required: !r.body.safeParse(undefined).success,
        content: { "application/json": { schema: toSchema(r.body, "input") } },
      };
    }
    paths[path] = { ...(paths[path] ?? {}), [r.method]: op };
  }
  return {
    openapi: "3.1.0",
    info,
    servers: [{ url: "/" }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An agentgate API token" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["message", "type", "param", "code"],
              properties: {
                message: { type: "string" },
                type: { type: "string" },
                param: { type: ["string", "null"] },
                code: { type: "string" },
              },
            },
          },
        },
      },
    },
  };
}
