/**
 * The knex factory: PostgreSQL through `pg` when a URL is configured, otherwise an embedded
 * PostgreSQL (PGlite, via knex-pglite) stored in the data directory. Both speak the same SQL,
 * so one set of migrations and queries serves both.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import knex, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import pg from "pg";

// int8 (counts, bigserial ids) as numbers, as PGlite already returns them; our values stay far
// below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type Db = Knex;

export type DbHandle = {
  db: Db;
  kind: "postgres" | "pglite";
  /** The embedded instance, for LISTEN/NOTIFY without a second connection. */
  pglite?: PGlite;
  close(): Promise<void>;
};

export type DbOptions = {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Embedded only: keep the database in memory (tests). */
  inMemory?: boolean;
  poolMax?: number;
};

export function openDb(opts: DbOptions): DbHandle {
  if (opts.databaseUrl) {
    const db = knex({
      client: "pg",
      connection: { connectionString: opts.databaseUrl, application_name: "agentgate" },
      pool: { min: 0, max: opts.poolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
    });
    return { db, kind: "postgres", close: () => db.destroy() };
  }
  let dir: string | undefined;
  if (!opts.inMemory) {
    dir = path.join(opts.dataDir, "pglite");
    mkdirSync(dir, { recursive: true });
  }
  const pglite = new PGlite(dir);
  const db = knex({
    client: ClientPgLite as unknown as typeof knex.Client,
    dialect: "postgres",
    connection: { pglite } as unknown as Knex.StaticConnectionConfig,
  });
  return { db, kind: "pglite", pglite, close: () => db.destroy() };
}

/** A short description for logs that never includes credentials. */
export function describeDb(opts: DbOptions): string {
  if (!opts.databaseUrl)
    return opts.inMemory ? "embedded PGlite (in memory)" : `embedded PGlite in ${opts.dataDir}`;
  const u = new URL(opts.databaseUrl);
  return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`;
}
