/**
 * Assertions shared by the admin API suites: the OpenAI-shaped error envelope, the absence of
 * internals in any answer, and "this request changed nothing" checks against the database.
 */
import type { Response } from "supertest";
import { expect } from "vitest";
import type { TestInstance } from "./instance.js";

/** Text that must never reach a client: stack frames, file paths, SQL, driver internals. */
const LEAKS: RegExp[] = [
  /\n\s*at /,
  /\bat .+:\d+:\d+/,
  /node_modules/,
  /\/work\//,
  /\.[cm]?[jt]s:\d+/,
  /\bknex\b/i,
  /\bselect\s/i,
  /insert into/i,
  /\bupdate\s+"/i,
  /delete from/i,
  /SQLSTATE/i,
  /violates/i,
  /duplicate key/i,
  /\bconstraint\b/i,
  /\brelation\b/i,
  /syntax error/i,
  /DatabaseError|TypeError|RangeError|ReferenceError/,
  /pg_notify|pglite/i,
];

export function expectNoLeak(text: string): void {
  for (const re of LEAKS) expect(text, `answer leaks internals (${re})`).not.toMatch(re);
}

/** Asserts exactly the OpenAI envelope `{"error": {"message", "type", "param", "code"}}`; returns `error`. */
export function expectErrorEnvelope(
  body: unknown,
  context: string,
): { message: string; type: string; param: string | null; code: string } {
  expect(Object.keys(body as object), context).toEqual(["error"]);
  const err = (body as { error: { message: string; type: string; param: string | null; code: string } })
    .error;
  expect(Object.keys(err).sort(), context).toEqual(["code", "message", "param", "type"]);
  expect(typeof err.message, context).toBe("string");
  expect(err.message.length, context).toBeGreaterThan(0);
  expect(typeof err.type, context).toBe("string");
  expect(err.param === null || typeof err.param === "string", context).toBe(true);
  expect(typeof err.code, context).toBe("string");
  return err;
}

/**
 * Asserts an error answer: status, JSON content type, exactly the OpenAI envelope
 * `{"error": {"message", "type", "param", "code"}}`, the code, and no internals.
 */
export function expectError(
  res: Response,
  status: number,
  code: string,
  opts: { param?: string | null; message?: RegExp | string } = {},
): void {
  const { req } = res as unknown as { req?: { method?: string; path?: string } };
  const context = `${req?.method} ${req?.path} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers["content-type"], context).toMatch(/^application\/json/);
  const err = expectErrorEnvelope(res.body, context);
  expect(err.code, context).toBe(code);
  if (opts.param !== undefined) expect(err.param, context).toBe(opts.param);
  if (opts.message !== undefined) expect(err.message, context).toMatch(opts.message);
  expectNoLeak(res.text);
}

const TABLES = [
  "upstreams",
  "systems",
  "agents",
  "versions",
  "aliases",
  "alias_history",
  "pins",
  "api_tokens",
  "audit_log",
] as const;

/** Row counts of every registry table, the agents' counters and the newest audit id. */
export async function dbSnapshot(t: TestInstance): Promise<Record<string, unknown>> {
  const { db } = t.gw.dbHandle;
  const snap: Record<string, unknown> = {};
  for (const table of TABLES) {
    const [row] = await db(table).count<{ n: number }[]>({ n: "*" });
    snap[table] = Number(row?.n);
  }
  snap.next_versions = await db("agents").orderBy("id").pluck("next_version");
  snap.aliases_at = await db("aliases").orderBy(["agent_id", "name"]).select("name", "version_id");
  snap.pins_at = await db("pins").orderBy("agent_id").select("agent_id", "version_id", "reason");
  snap.revoked = await db("api_tokens").whereNotNull("revoked_at").count<{ n: number }[]>({ n: "*" });
  snap.last_audit = (await db("audit_log").max<{ m: number | null }[]>({ m: "id" }))[0]?.m ?? null;
  return snap;
}

/** Runs `fn` and asserts the database is exactly as it was before. */
export async function expectNoChange<T>(t: TestInstance, fn: () => Promise<T>): Promise<T> {
  const before = await dbSnapshot(t);
  const result = await fn();
  expect(await dbSnapshot(t)).toEqual(before);
  return result;
}
