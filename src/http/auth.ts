/** Bearer-token authentication and scope checks for the admin API. */
import type { Request } from "express";
import { type Actor, hasScope, type Scope } from "../auth/scopes.js";
import type { TokenService } from "../auth/tokens.js";
import { AppError } from "../errors.js";

/** The raw token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export function makeAuthenticator(tokens: TokenService) {
  return async (req: Request, scope: Scope): Promise<Actor> => {
    const raw = bearerToken(req.headers.authorization);
    if (!raw)
      throw new AppError(
        "missing_token",
        "this endpoint requires an API token: send 'Authorization: Bearer <token>'",
      );
    const actor = await tokens.verify(raw);
    if (!actor) throw new AppError("invalid_token", "the API token is unknown or revoked");
    if (!hasScope(actor.scopes, scope)) {
      throw new AppError("insufficient_scope", `this endpoint requires a token with the '${scope}' scope`);
    }
    return actor;
  };
}
