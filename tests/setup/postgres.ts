/**
 * Decides once per run whether the PostgreSQL suites run. PostgreSQL is used when reachable; when
 * it is not, the run says plainly that it covered PGlite alone — unless PostgreSQL is required
 * (AGENTGATE_TEST_REQUIRE_PG=1, set by CI), in which case the run fails instead of skipping.
 */
import pg from "pg";
import type { TestProject } from "vitest/node";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string | null;
  }
}

async function reachable(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

export default async function setup(project: TestProject) {
  const url = process.env.AGENTGATE_TEST_PG_URL ?? DEFAULT_URL;
  const required = process.env.AGENTGATE_TEST_REQUIRE_PG === "1";
  const problem = await reachable(url);
  const where = new URL(url).host;
  if (problem) {
    if (required) {
      throw new Error(
        `PostgreSQL is required (AGENTGATE_TEST_REQUIRE_PG=1) but ${where} is not reachable: ${problem}`,
      );
    }
    console.warn(
      `\n*** PostgreSQL at ${where} is not reachable (${problem}): these tests ran on PGlite ONLY. ***\n`,
    );
    project.provide("pgAdminUrl", null);
    return () =>
      console.warn(
        `\n*** Reminder: tests ran on PGlite only; PostgreSQL at ${where} was not reachable. ***\n`,
      );
  }
  console.log(`PostgreSQL at ${where} is reachable: suites run on both PostgreSQL and PGlite.`);
  project.provide("pgAdminUrl", url);
}
