/**
 * The event indexes on `session_id` and on `(experiment_id, unit_key)` become partial (non-null
 * keys only). Every query that reads them looks a value up (`session_id = ?`, `experiment_id = ?`),
 * which never matches NULL, yet each call outside an experiment, or without a session, paid an
 * index insert for a NULL key: on the embedded PGlite that was a fifth of the CPU of writing an
 * event (docs/benchmarks.md).
 *
 * Built CONCURRENTLY (so outside a transaction), new index first, then the old one dropped: on a
 * large table of a running deployment, event writes never block and lookups always have an index.
 */
import type { Knex } from "knex";

export const config = { transaction: false };

const INDEXES = [
  { old: "inference_events_session_id_index", columns: "session_id", where: "session_id IS NOT NULL" },
  {
    old: "inference_events_experiment_id_unit_key_index",
    columns: "experiment_id, unit_key",
    where: "experiment_id IS NOT NULL",
  },
];

export async function up(knex: Knex): Promise<void> {
  for (const i of INDEXES) {
    const partial = `${i.old.replace(/_index$/, "")}_partial_index`;
    // IF NOT EXISTS: a migration interrupted between the two statements can run again.
    await knex.raw(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${partial} ON inference_events (${i.columns}) WHERE ${i.where}`,
    );
    await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${i.old}`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const i of INDEXES) {
    const partial = `${i.old.replace(/_index$/, "")}_partial_index`;
    await knex.raw(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${i.old} ON inference_events (${i.columns})`);
    await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${partial}`);
  }
}
