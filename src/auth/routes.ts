/** Admin API routes for API tokens (admin scope only). */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { nameSchema } from "../registry/names.js";
import { scopeSchema } from "./scopes.js";
import { BOOTSTRAP_ACTOR, type TokenService } from "./tokens.js";

const tokenInfo = z.object({
  name: z.string(),
  scopes: z.array(scopeSchema),
  prefix: z.string(),
  created_by: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});

const tokenCreate = z.strictObject({
  // The audit log names actors by token name: no token may pass for the bootstrap admin.
  name: nameSchema.refine((n) => n !== BOOTSTRAP_ACTOR, `'${BOOTSTRAP_ACTOR}' is reserved`),
  scopes: z
    .array(scopeSchema, { error: "must be a list of scopes" })
    .min(1, "must name at least one scope")
    .max(5),
});

export function tokenRoutes(tokens: TokenService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/tokens",
      scope: "admin",
      tag: "tokens",
      summary: "Create a token (the secret is shown once)",
      body: tokenCreate,
      response: { status: 201, schema: tokenInfo.extend({ token: z.string() }) },
      handler: ({ actor, body }) =>
        tokens.create(actor, { name: body.name, scopes: [...new Set(body.scopes)] }),
    }),
    defineRoute({
      method: "get",
      path: "/tokens",
      scope: "admin",
      tag: "tokens",
      summary: "List tokens (never their secrets)",
      response: { schema: z.object({ data: z.array(tokenInfo) }) },
      handler: async () => ({ data: await tokens.list() }),
    }),
    defineRoute({
      method: "delete",
      path: "/tokens/:name",
      scope: "admin",
      tag: "tokens",
      summary: "Revoke a token",
      params: z.object({ name: nameSchema }),
      response: { schema: tokenInfo },
      handler: ({ actor, params }) => tokens.revoke(actor, params.name),
    }),
  ];
}
