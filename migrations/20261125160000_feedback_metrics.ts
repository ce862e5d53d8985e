/**
 * Declared metrics, feedback, and what experiments need to decide: ramps, guardrail state and
 * promotion.
 *
 * Feedback is stored as sent (for a call or for a workflow run) and attributed to arms when a
 * report is computed: a call's feedback follows its event's arm; a run's feedback follows the arm
 * the run's unit key (`session:<id>`) was assigned, which the experiment's salt determines.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("metrics", (t) => {
    t.text("name").primary();
    t.text("type").notNullable();
    t.text("direction").notNullable();
    t.text("description");
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    "ALTER TABLE metrics ADD CONSTRAINT metrics_type_check CHECK (type IN ('boolean', 'float'))",
  );
  await knex.raw(
    "ALTER TABLE metrics ADD CONSTRAINT metrics_direction_check CHECK (direction IN ('higher', 'lower'))",
  );

  await knex.schema.createTable("feedback", (t) => {
    t.bigIncrements("id");
    // Optional client-chosen key: a retried POST with the same key stores nothing new.
    t.text("idempotency_key").unique();
    t.text("metric").notNullable().references("metrics.name");
    t.double("value").notNullable();
    t.text("request_id");
    t.text("session_id");
    t.text("comment");
    t.text("actor").notNullable();
    t.timestamp("at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(["request_id"]);
    t.index(["session_id"]);
    t.index(["metric"]);
  });
  await knex.raw(
    "ALTER TABLE feedback ADD CONSTRAINT feedback_target_check CHECK ((request_id IS NULL) <> (session_id IS NULL))",
  );

  await knex.schema.alterTable("experiments", (t) => {
    // {steps: [5, 25, 50], hold_minutes}: treatment share (percent) per step; null = full weights.
    t.jsonb("ramp");
    t.integer("ramp_step");
    t.timestamp("ramp_step_at", { useTz: true });
    t.text("promoted_arm");
    t.timestamp("last_check_at", { useTz: true });
    t.jsonb("last_check");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("experiments", (t) => {
    for (const c of ["ramp", "ramp_step", "ramp_step_at", "promoted_arm", "last_check_at", "last_check"])
      t.dropColumn(c);
  });
  await knex.schema.dropTableIfExists("feedback");
  await knex.schema.dropTableIfExists("metrics");
}
