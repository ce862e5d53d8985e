/**
 * One declaration per admin API operation: path, scope, zod schemas for params/query/body and
 * the response, and a handler over plain services. The same declaration mounts the Express route
 * (auth → validation → handler) and feeds the OpenAPI document, so the document cannot drift from
 * what the server validates.
 */
import type { Request, RequestHandler, Response, Router } from "express";
import type { ZodType, z } from "zod";
import type { Actor, Scope } from "../auth/scopes.js";
import { isStorable } from "../db/storable.js";
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

/** Deeper than any real payload; PostgreSQL's jsonb parser fails on deep nesting (stack depth). */
const MAX_DEPTH = 32;

/**
 * Finds what the schemas accept but the database would refuse (which would surface as a 500) or
 * silently alter: strings or keys with NUL characters or unpaired surrogates, non-finite numbers,
 * and nesting beyond `MAX_DEPTH`.
 * Iterative, so no input can exhaust the stack.
 */
function findUnstorable(value: unknown): { path: string[]; message: string } | null {
  const stack: Array<[unknown, string[]]> = [[value, []]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, path] = item;
    if (typeof v === "string") {
      if (!isStorable(v)) return { path, message: "must not contain NUL or unpaired surrogate characters" };
    } else if (typeof v === "number") {
      // JSON.parse turns 1e400 into Infinity, which JSON.stringify would store as null.
      if (!Number.isFinite(v)) return { path, message: "must be a finite number" };
    } else if (typeof v === "object" && v !== null) {
      if (path.length >= MAX_DEPTH)
        return { path, message: `must not be nested more than ${MAX_DEPTH} levels deep` };
      for (const [k, child] of Object.entries(v)) {
        if (!isStorable(k))
          return { path, message: "keys must not contain NUL or unpaired surrogate characters" };
        stack.push([child, [...path, k]]);
      }
    }
  }
  return null;
}

function parseOrThrow<T>(
  schema: ZodType<T> | undefined,
  value: unknown,
  where: "body" | "query" | "path",
): T {
  if (!schema) return undefined as T;
  const bad = findUnstorable(value);
  if (bad) {
    const field = bad.path.length ? bad.path.join(".") : null;
    throw new AppError("invalid_request", `${field ?? where}: ${bad.message}`, field);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw describeZodError(parsed.error, where);
  return parsed.data;
}

/** Whether the request carries a body (the JSON parser leaves any non-JSON one unread). */
const hasBody = (req: Request) =>
  req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

/** How many routing config changes this instance notified so far, and how to apply them here. */
export type ConfigChangeHooks = { notified(): number; apply(): Promise<void> };

export type Authenticator = (req: Request, scope: Scope) => Promise<Actor>;

const ANONYMOUS: Actor = { name: "anonymous", scopes: [] };

/**
 * Mounts each spec on `router` and returns them with their full paths for the OpenAPI document.
 * The token is checked before the body is read: an unauthenticated client gets its 401 without the
 * server buffering or parsing anything it sent.
 */
export function mountRoutes(
  router: Router,
  prefix: string,
  specs: RouteSpec[],
  authenticate: Authenticator,
  parseBody: RequestHandler,
  configChanges: ConfigChangeHooks,
): MountedRoute[] {
  for (const spec of specs) {
    const authorize: RequestHandler = async (req, res, next) => {
      res.locals.actor = spec.scope ? await authenticate(req, spec.scope) : ANONYMOUS;
      next();
    };
    const handler: RequestHandler = async (req, res) => {
      const actor = res.locals.actor as Actor;
      const params = parseOrThrow(spec.params, req.params, "path");
      const query = parseOrThrow(spec.query, req.query, "query");
      if (spec.body && req.body === undefined && hasBody(req) && !req.is("json")) {
        throw new AppError(
          "unsupported_media_type",
          "the request body must be JSON (content-type: application/json)",
        );
      }
      const body = parseOrThrow(spec.body, req.body, "body");
      const before = configChanges.notified();
      const result = await spec.handler({ params, query, body, actor, req, res });
      if (configChanges.notified() !== before) await configChanges.apply();
      if (res.headersSent) return;
      if (result === undefined) {
        res.status(204).end();
        return;
      }
      res.status(spec.response?.status ?? 200).json(result);
    };
    router[spec.method](spec.path, authorize, parseBody, handler);
  }
  return specs.map((s) => ({ ...s, fullPath: prefix + s.path }));
}
