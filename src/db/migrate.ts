/**
 * Migrations as a static list of modules, so they run the same from TypeScript sources (tests,
 * tsx) and from the compiled build, with no file-system globbing or loader tricks.
 */
import type { Knex } from "knex";
import * as registry from "../../migrations/20261125140000_registry.js";
import * as experimentsEvents from "../../migrations/20261125150000_experiments_events.js";
import * as feedbackMetrics from "../../migrations/20261125160000_feedback_metrics.js";
import * as guardrailAlpha from "../../migrations/20261126090000_guardrail_alpha.js";
import * as reportIndexes from "../../migrations/20261126100000_report_indexes.js";
import * as captureDatasets from "../../migrations/20261126140000_capture_datasets.js";
import * as fineTunes from "../../migrations/20261127090000_fine_tunes.js";
import * as mlflow from "../../migrations/20261127100000_mlflow.js";
import * as partialEventIndexes from "../../migrations/20261128090000_partial_event_indexes.js";
import { sqlStateOf } from "../errors.js";

type Migration = {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** `{ transaction: false }` for statements that cannot run in one (CREATE INDEX CONCURRENTLY). */
  config?: { transaction?: boolean };
};

const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  ["20261125140000_registry", registry],
  ["20261125150000_experiments_events", experimentsEvents],
  ["20261125160000_feedback_metrics", feedbackMetrics],
  ["20261126090000_guardrail_alpha", guardrailAlpha],
  ["20261126100000_report_indexes", reportIndexes],
  ["20261126140000_capture_datasets", captureDatasets],
  ["20261127090000_fine_tunes", fineTunes],
  ["20261127100000_mlflow", mlflow],
  ["20261128090000_partial_event_indexes", partialEventIndexes],
];

const source: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: ([name]) => name,
  getMigration: async ([, m]) => m,
};

const config: Knex.MigratorConfig = { migrationSource: source, tableName: "agentgate_migrations" };

/**
 * Applies every pending migration; returns the names applied. Replicas starting together race
 * for knex's migration lock (and for creating its bookkeeping tables): the losers wait and retry
 * until the winner is done, instead of failing their start.
 */
export async function migrateLatest(db: Knex, waitMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
      return applied;
    } catch (err) {
      if (!isLockContention(err) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function isLockContention(err: unknown): boolean {
  if ((err as Error)?.name === "MigrationLocked") return true;
  // Two first starts creating the bookkeeping tables at once: unique_violation, duplicate_table,
  // or duplicate_object (the table's row type), depending on where the race is lost.
  const code = sqlStateOf(err);
  return code === "23505" || code === "42P07" || code === "42710";
}

/** Reverts every migration (tests use it to prove `down` works). */
export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback(config, true);
}
