/**
 * Token scopes. `admin` can do everything; `write` includes `read`; `feedback` and `proxy` are
 * narrow scopes for agents in production, which should hold nothing else.
 */
import { z } from "zod";

export const SCOPES = ["admin", "write", "read", "feedback", "proxy"] as const;
export const scopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof scopeSchema>;

/** Who made a call: the token's name is what the audit log records. */
export type Actor = { name: string; scopes: readonly Scope[] };

const IMPLIED: Record<Scope, readonly Scope[]> = {
  admin: SCOPES,
  write: ["write", "read"],
  read: ["read"],
  feedback: ["feedback"],
  proxy: ["proxy"],
};

export function hasScope(granted: readonly Scope[], needed: Scope): boolean {
  return granted.some((g) => IMPLIED[g].includes(needed));
}
