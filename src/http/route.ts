/**
 * One declaration per admin API operation: path, scope, zod schemas for params/query/body and
 * the response, and a handler over plain services. The same declaration mounts the Express route
 * (auth → validation → handler) and feeds the OpenAPI document, so the document cannot drift from
 * what the server validates.
 */
import type { Request, RequestHandler, Response, Router } from "express";
import type { ZodType, z } from "zod";
import type { Actor, Scope } from "../auth/scopes.js";
import { AppError } from "../errors.js";

export type Method = "get" | "post" | "put" | "patch" | "delete";

export type RouteInput<P, Q, B> = { params: P; query: Q; body: B; actor: Actor; req: Request; res: Response };

export type RouteSpec<P = unknown, Q = unknown, B = unknown> = {
  method: Method;
  /** Express-style path relative to the router's mount point, e.g. `/systems/:system`. */
  path: string;
  /** `null` marks a public route; every other route requires a token with this scope. */
  scope: Scope | null;
  summary: string;
  tag: string;
  params?: ZodType<P>;
  query?: ZodType<Q>;
  body?: ZodType<B>;
  /** Success status and schema; a handler returning `undefined` answers 204. */
  response?: { status?: number; schema?: ZodType; description?: string; contentType?: string };
  handler(input: RouteInput<P, Q, B>): Promise<unknown> | unknown;
};

export type MountedRoute = RouteSpec & { fullPath: string };

export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** Formats the first zod issue as a message that names the field, and returns that field path. */
export function describeZodError(err: z.ZodError, where: "body" | "query" | "path"): AppError {
  const issue = err.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : null;
  const prefix = field ? `${field}: ` : where === "body" ? "body: " : "";
  return new AppError(
    where === "path" ? "invalid_name" : "invalid_request",
    `${prefix}${issue?.message ?? "invalid"}`,
    field,
  );
}

function parseOrThrow<T>(
  schema: ZodType<T> | undefined,
  value: unknown,
  where: "body" | "query" | "path",
): T {
  if (!schema) return undefined as T;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw describeZodError(parsed.error, where);
  return parsed.data;
}

export type Authenticator = (req: Request, scope: Scope) => Promise<Actor>;

/** Mounts each spec on `router` and returns them with their full paths for the OpenAPI document. */
export function mountRoutes(
  router: Router,
  prefix: string,
  specs: RouteSpec[],
  authenticate: Authenticator,
): MountedRoute[] {
  for (const spec of specs) {
    const handler: RequestHandler = async (req, res) => {
      const actor: Actor = spec.scope
        ? await authenticate(req, spec.scope)
        : { name: "anonymous", scopes: [] };
      const params = parseOrThrow(spec.params, req.params, "path");
      const query = parseOrThrow(spec.query, req.query, "query");
      const body = parseOrThrow(spec.body, req.body, "body");
      const result = await spec.handler({ params, query, body, actor, req, res });
      if (res.headersSent) return;
      if (result === undefined) {
        res.status(204).end();
        return;
      }
      res.status(spec.response?.status ?? 200).json(result);
    };
    router[spec.method](spec.path, handler);
  }
  return specs.map((s) => ({ ...s, fullPath: prefix + s.path }));
}
