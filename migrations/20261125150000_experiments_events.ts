/**
 * Experiments (arms with weights mapping agents to versions) and the inference event log.
 *
 * An experiment's `salt` is random and stored, so every replica computes the same assignment
 * `bucket(salt, unit key)` without coordination. Events are keyed by the request id the gateway
 * minted, which makes replaying the disk spool idempotent.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("experiments", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.integer("system_id").notNullable().references("systems.id");
    // Set for agent-scoped experiments; null for system-scoped ones.
    t.integer("agent_id").references("agents.id");
    t.text("unit").notNullable();
    t.text("salt").notNullable();
    t.text("status").notNullable().defaultTo("draft");
    t.text("primary_metric");
    t.jsonb("secondary_metrics").notNullable().defaultTo("[]");
    t.jsonb("guardrails").notNullable().defaultTo("[]");
    t.boolean("fallback_to_champion").notNullable().defaultTo(true);
    t.text("description");
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("started_at", { useTz: true });
    t.timestamp("ended_at", { useTz: true });
    t.text("end_reason");
  });
  await knex.raw(
    "ALTER TABLE experiments ADD CONSTRAINT experiments_status_check CHECK (status IN ('draft', 'running', 'paused', 'stopped'))",
  );
  await knex.raw(
    "ALTER TABLE experiments ADD CONSTRAINT experiments_unit_check CHECK (unit IN ('session', 'user', 'request'))",
  );

  await knex.schema.createTable("experiment_arms", (t) => {
    t.increments("id");
    t.integer("experiment_id").notNullable().references("experiments.id").onDelete("CASCADE");
    t.text("name").notNullable();
    t.integer("position").notNullable();
    t.double("weight").notNullable();
    t.unique(["experiment_id", "name"]);
  });

  await knex.schema.createTable("experiment_arm_versions", (t) => {
    t.integer("arm_id").notNullable().references("experiment_arms.id").onDelete("CASCADE");
    t.integer("agent_id").notNullable().references("agents.id");
    t.integer("version_id").notNullable().references("versions.id");
    t.primary(["arm_id", "agent_id"]);
  });

  await knex.schema.createTable("inference_events", (t) => {
    t.text("request_id").primary();
    t.timestamp("at", { useTz: true }).notNullable();
    t.text("system").notNullable();
    t.text("agent").notNullable();
    t.integer("agent_id");
    t.text("route");
    t.integer("experiment_id");
    t.text("arm");
    // What the route chose, and what actually served (they differ after a fallback).
    t.integer("assigned_version");
    t.integer("served_version");
    t.text("served_model");
    t.text("upstream");
    t.boolean("fallback").notNullable().defaultTo(false);
    t.boolean("stream").notNullable().defaultTo(false);
    t.integer("status").notNullable();
    t.text("error_class");
    t.text("session_id");
    t.text("user_id");
    // The key the experiment's assignment hashed (e.g. `session:<id>`): the unit of analysis.
    t.text("unit_key");
    t.double("latency_ms");
    t.double("upstream_ms");
    t.double("ttft_ms");
    t.integer("prompt_tokens");
    t.integer("completion_tokens");
    t.integer("cached_tokens");
    t.double("cost_usd");
    t.index(["experiment_id", "arm"]);
    t.index(["agent_id", "at"]);
    t.index(["session_id"]);
    t.index(["experiment_id", "unit_key"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["inference_events", "experiment_arm_versions", "experiment_arms", "experiments"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
