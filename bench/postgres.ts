/**
 * A throwaway PostgreSQL database for the gateway's PostgreSQL run: unique name, dropped at the
 * end. The admin URL is BENCH_PG_URL, else AGENTGATE_TEST_PG_URL (the test suites' variable), else
 * the local default the test suites use.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { procCpuUs } from "./procs.js";

export const pgAdminUrl = (): string =>
  process.env.BENCH_PG_URL ??
  process.env.AGENTGATE_TEST_PG_URL ??
  "postgres://postgres@127.0.0.1:5432/postgres";

export type BenchDatabase = {
  url: string;
  name: string;
  /** CPU time (µs) of each PostgreSQL backend connected to this database right now, by pid. */
  backendCpuUs(): Promise<Map<number, number>>;
  drop(): Promise<void>;
};

export async function pgReachable(url = pgAdminUrl()): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("select 1");
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Whether a bench's PostgreSQL part runs: in CI an unreachable server fails the bench (the CI
 * machine has one); elsewhere the part is skipped, saying why.
 */
export async function postgresOrSkip(): Promise<boolean> {
  const unreachable = await pgReachable();
  if (!unreachable) return true;
  if (process.env.CI) throw new Error(`PostgreSQL unreachable: ${unreachable}`);
  console.log(`\nPostgreSQL skipped: ${unreachable}`);
  return false;
}

export async function createBenchDatabase(adminUrl = pgAdminUrl()): Promise<BenchDatabase> {
  const name = `agentgate_bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl, application_name: "agentgate-bench" });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async backendCpuUs() {
      const { rows } = await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = $1",
        [name],
      );
      const out = new Map<number, number>();
      for (const { pid } of rows) {
        const us = procCpuUs(pid);
        if (us !== null) out.set(pid, us);
      }
      return out;
    },
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}
