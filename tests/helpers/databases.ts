/**
 * Storage backends for tests. Every suite that touches storage runs on each backend returned by
 * `backends()`: always the embedded PGlite, and PostgreSQL when the global setup found one. Each
 * PostgreSQL test database has a unique name and is dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export type Backend = "pglite" | "postgres";

export function backends(): Backend[] {
  return inject("pgAdminUrl") ? ["pglite", "postgres"] : ["pglite"];
}

export type TestDatabase = { url: string; drop(): Promise<void> };

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const adminUrl = inject("pgAdminUrl");
  if (!adminUrl) throw new Error("PostgreSQL is not available in this run");
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, uniquely named PostgreSQL database. */
export async function createPgDatabase(): Promise<TestDatabase> {
  const name = `agentgate_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(inject("pgAdminUrl") as string);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
