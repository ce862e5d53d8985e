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

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  ["20261125140000_registry", registry],
  ["20261125150000_experiments_events", experimentsEvents],
  ["20261125160000_feedback_metrics", feedbackMetrics],
  ["20261126090000_guardrail_alpha", guardrailAlpha],
  ["20261126100000_report_indexes", reportIndexes],
  ["20261126140000_capture_datasets", captureDatasets],
];

const source: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: ([name]) => name,
  getMigration: async ([, m]) => m,
};

const config: Knex.MigratorConfig = { migrationSource: source, tableName: "agentgate_migrations" };

/** Applies every pending migration; returns the names applied. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
  return applied;
}

/** Reverts every migration (tests use it to prove `down` works). */
export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback(config, true);
}
