/**
 * The knex factory: PostgreSQL through `pg` when a URL is configured, otherwise an embedded
 * PostgreSQL (PGlite, via knex-pglite) stored in the data directory. Both speak the same SQL,
 * so one set of migrations and queries serves both.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import knex, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import pg from "pg";
import type { Logger } from "pino";
import { type DatabaseThreadPriority, PGliteThread } from "./pglite-thread.js";

// int8 (counts, bigserial ids) as numbers, as PGlite already returns them; our values stay far
// below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type Db = Knex;

export type DbHandle = {
  db: Db;
  kind: "postgres" | "pglite";
  /** The embedded database (on its own thread), for LISTEN/NOTIFY without a second connection. */
  pglite?: PGliteThread;
  close(): Promise<void>;
};

export type DbOptions = {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Embedded only: keep the database in memory (tests). */
  inMemory?: boolean;
  poolMax?: number;
  /** Embedded only: how the database thread yields the CPUs (default `DATABASE_THREAD_PRIORITY`). */
  threadPriority?: DatabaseThreadPriority;
};

/** knex's own warnings (e.g. "Acquire connection error") as single log lines, not stack dumps. */
function knexLog(log: Logger | undefined): Knex.Config["log"] {
  const line = (level: "warn" | "error" | "debug") => (msg: unknown) => {
    const text = msg instanceof Error ? msg.message : String(msg);
    if (log) log[level]({ component: "knex" }, text.split("\n", 1)[0] ?? text);
  };
  return { warn: line("warn"), error: line("error"), deprecate: line("debug"), debug: line("debug") };
}

export function openDb(opts: DbOptions, log?: Logger): DbHandle {
  if (opts.databaseUrl) {
    const db = knex({
      client: "pg",
      connection: { connectionString: opts.databaseUrl, application_name: "agentgate" },
      pool: { min: 0, max: opts.poolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
      log: knexLog(log),
    });
    return { db, kind: "postgres", close: () => db.destroy() };
  }
  let dir: string | undefined;
  if (!opts.inMemory) {
    dir = path.join(opts.dataDir, "pglite");
    mkdirSync(dir, { recursive: true });
  }
  // knex-pglite drives it through the same calls as a PGlite instance (see pglite-thread.ts).
  const pglite = new PGliteThread(dir, opts.threadPriority);
  const db = knex({
    client: ClientPgLite as unknown as typeof knex.Client,
    dialect: "postgres",
    connection: { pglite } as unknown as Knex.StaticConnectionConfig,
    log: knexLog(log),
  });
  return {
    db,
    kind: "pglite",
    pglite,
    close: async () => {
      await db.destroy();
      // Also when knex never opened its connection.
      await pglite.close();
    },
  };
}

/** A short description for logs that never includes credentials. */
export function describeDb(opts: DbOptions): string {
  if (!opts.databaseUrl)
    return opts.inMemory ? "embedded PGlite (in memory)" : `embedded PGlite in ${opts.dataDir}`;
  const u = new URL(opts.databaseUrl);
  return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`;
}

/**
 * Runs `fn` on a pooled connection, past knex's query builder and runner: for the event writer's
 * batch insert, where that layer cost more CPU per batch than the driver's work (see
 * docs/benchmarks.md). The connection comes from knex's pool, so on PGlite's single connection it
 * still waits for a transaction in progress instead of running inside it.
 */
export async function withConnection<T>(
  db: Db,
  fn: (conn: PGliteThread | pg.Client) => Promise<T>,
): Promise<T> {
  const conn = (await db.client.acquireConnection()) as PGliteThread | pg.Client;
  try {
    return await fn(conn);
  } finally {
    await db.client.releaseConnection(conn);
  }
}
