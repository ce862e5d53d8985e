/**
 * Covering indexes for the experiment report (docs/benchmarks.md, "Experiment report at
 * 1,000,000 events"). Without them each of the report's aggregate queries scans the whole event
 * table and sorts it on disk; with them they are index-only scans already in the order the
 * aggregation needs:
 *   - per unit (and per workflow run, for run-level feedback): (experiment_id, arm, unit_key,
 *     session_id) carrying what the per-unit sums read;
 *   - per agent and latency percentiles: (experiment_id, arm, agent, latency_ms), so each agent's
 *     latencies arrive sorted.
 * Both are partial (events in an experiment only), so calls outside experiments do not pay for
 * them. They lead with (experiment_id, arm), which makes the old index on those two redundant.
 *
 * An index-only scan still reads the table for rows on pages not yet marked all-visible, which
 * only VACUUM marks. PostgreSQL's autovacuum visits an insert-only table after inserts reach 20%
 * of it, so up to a fifth of the events would cost a random heap read in every report; on this
 * table it runs after 2% (and 10,000 rows) instead, which is cheap on an append-only table (the
 * pages already all-visible are skipped).
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `CREATE INDEX inference_events_report_units_index
       ON inference_events (experiment_id, arm, unit_key, session_id)
       INCLUDE (status, fallback, cost_usd, prompt_tokens, completion_tokens, latency_ms, at)
       WHERE experiment_id IS NOT NULL`,
  );
  await knex.raw(
    `CREATE INDEX inference_events_report_agents_index
       ON inference_events (experiment_id, arm, agent, latency_ms)
       INCLUDE (status, fallback, cost_usd, prompt_tokens, completion_tokens)
       WHERE experiment_id IS NOT NULL`,
  );
  await knex.schema.alterTable("inference_events", (t) => {
    t.dropIndex(["experiment_id", "arm"]);
  });
  await knex.raw(
    "ALTER TABLE inference_events SET (autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_insert_threshold = 10000)",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    "ALTER TABLE inference_events RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold)",
  );
  await knex.schema.alterTable("inference_events", (t) => {
    t.index(["experiment_id", "arm"]);
  });
  await knex.raw("DROP INDEX IF EXISTS inference_events_report_agents_index");
  await knex.raw("DROP INDEX IF EXISTS inference_events_report_units_index");
}
