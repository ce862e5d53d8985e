/**
 * Reading and validating a client's chat-completion request at the edge of the data plane: the
 * bearer token (checked against the routing table's token set, no database read), the body
 * (bounded size, JSON, the fields the gateway relies on), the agent and the unit keys.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import { AppError } from "../errors.js";
import { bearerToken } from "../http/auth.js";
import type { ChatBody } from "./apply-version.js";
import { readChunks } from "./read-chunks.js";
import type { RoutingTable } from "./routing-table.js";

const chatSchema = z.looseObject({
  model: z.string({ error: "must be a string" }).max(512).optional(),
  messages: z
    .array(z.looseObject({ role: z.string({ error: "must be a string" }).min(1, "must not be empty") }), {
      error: "must be a list of messages",
    })
    .min(1, "must contain at least one message"),
  stream: z.boolean({ error: "must be a boolean" }).nullish(),
  user: z.string({ error: "must be a string" }).max(512).optional(),
});

export const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * SHA-256 of recently seen bearer keys: agents send the same few keys on every call, and hashing
 * each time is measurable on the hot path. Bounded; cleared when full.
 */
const recentHashes = new Map<string, string>();
const RECENT_HASHES_MAX = 1024;

function tokenHash(raw: string): string {
  let hash = recentHashes.get(raw);
  if (hash === undefined) {
    hash = sha256Hex(raw);
    if (recentHashes.size >= RECENT_HASHES_MAX) recentHashes.clear();
    recentHashes.set(raw, hash);
  }
  return hash;
}

/** The token's name when the call may use the data plane; throws 401 otherwise. */
export function authorizeProxy(
  req: IncomingMessage,
  table: RoutingTable,
  bootstrapHash: string | undefined,
): string {
  const raw = bearerToken(req.headers.authorization);
  if (!raw)
    throw new AppError("missing_token", "send 'Authorization: Bearer <key>' with a key of scope 'proxy'");
  const hash = tokenHash(raw);
  if (bootstrapHash !== undefined && hash === bootstrapHash) return "bootstrap-admin";
  const name = table.proxyTokens.get(hash);
  if (!name)
    throw new AppError("invalid_token", "the API key is unknown, revoked, or lacks the 'proxy' scope");
  return name;
}

/**
 * Reads the request body, refusing more than `max` bytes. Past the limit the rest is drained (not
 * destroyed) so the 413 answer can still be delivered on the same connection.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = () => new AppError("payload_too_large", `the request body exceeds ${max} bytes`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let size = 0;
  let complete: boolean;
  try {
    complete = await readChunks(req, (chunk) => {
      size += chunk.length;
      parts.push(chunk);
      return size <= max;
    });
  } catch {
    throw new AppError("invalid_request", "the request body was not received completely");
  }
  if (!complete) {
    req.resume();
    throw tooLarge();
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
}

export function parseChatBody(raw: Buffer): ChatBody {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new AppError("invalid_json", "the request body is not valid JSON");
  }
  const parsed = chatSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join(".") : null;
    throw new AppError("invalid_request", `${field ?? "body"}: ${issue?.message ?? "invalid"}`, field);
  }
  return parsed.data as ChatBody;
}

const header = (req: IncomingMessage, name: string): string | null => {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() !== "" ? s.trim().slice(0, 256) : null;
};

export const sessionOf = (req: IncomingMessage) => header(req, "x-session-id");
export const agentHeaderOf = (req: IncomingMessage) => header(req, "x-agent") ?? undefined;
