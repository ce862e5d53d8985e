/**
 * The model registry: upstreams, systems, agents, immutable numbered versions, movable aliases
 * with their history, pins, API tokens (hashed) and the audit log. Every routing decision the
 * gateway makes is derived from these tables.
 *
 * Numbers are per agent and never reused: `agents.next_version` is advanced under the agent's row
 * lock, so concurrent registrations get distinct numbers without gaps.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("upstreams", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.text("base_url").notNullable();
    // The *name* of the environment variable holding the key; the key itself is never stored.
    t.text("api_key_env");
    t.integer("timeout_ms").notNullable();
    t.integer("connect_timeout_ms").notNullable();
    t.integer("first_byte_timeout_ms").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("systems", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.text("topology").notNullable();
    t.text("description");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("agents", (t) => {
    t.increments("id");
    t.integer("system_id").notNullable().references("systems.id").onDelete("RESTRICT");
    t.text("name").notNullable();
    t.text("role");
    t.text("description");
    t.integer("next_version").notNullable().defaultTo(1);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["system_id", "name"]);
  });

  await knex.schema.createTable("versions", (t) => {
    t.increments("id");
    t.integer("agent_id").notNullable().references("agents.id").onDelete("RESTRICT");
    t.integer("number").notNullable();
    t.text("kind").notNullable();
    t.integer("upstream_id").notNullable().references("upstreams.id").onDelete("RESTRICT");
    t.text("model").notNullable();
    t.jsonb("prompt");
    t.jsonb("params");
    t.jsonb("lineage");
    t.double("training_cost_usd");
    t.jsonb("pricing");
    t.jsonb("tags").notNullable().defaultTo("{}");
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["agent_id", "number"]);
  });
  await knex.raw(
    "ALTER TABLE versions ADD CONSTRAINT versions_kind_check CHECK (kind IN ('base_optimized', 'fine_tuned'))",
  );
  await knex.raw("CREATE INDEX versions_model_idx ON versions (upstream_id, model)");

  await knex.schema.createTable("aliases", (t) => {
    t.integer("agent_id").notNullable().references("agents.id").onDelete("CASCADE");
    t.text("name").notNullable();
    t.integer("version_id").notNullable().references("versions.id");
    t.text("updated_by").notNullable();
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(["agent_id", "name"]);
  });

  // Append-only: MLflow keeps no alias history, rollback needs it.
  await knex.schema.createTable("alias_history", (t) => {
    t.bigIncrements("id");
    t.integer("agent_id").notNullable().references("agents.id").onDelete("CASCADE");
    t.text("alias").notNullable();
    t.integer("from_version_id").references("versions.id");
    t.integer("to_version_id").references("versions.id");
    t.text("action").notNullable();
    t.text("reason");
    t.text("actor").notNullable();
    t.timestamp("at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(["agent_id", "alias", "id"]);
  });

  await knex.schema.createTable("pins", (t) => {
    t.integer("agent_id").primary().references("agents.id").onDelete("CASCADE");
    t.integer("version_id").notNullable().references("versions.id");
    t.text("reason");
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("api_tokens", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.specificType("scopes", "text[]").notNullable();
    t.text("token_hash").notNullable().unique();
    t.text("prefix").notNullable();
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("revoked_at", { useTz: true });
  });

  await knex.schema.createTable("audit_log", (t) => {
    t.bigIncrements("id");
    t.timestamp("at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text("actor").notNullable();
    t.text("action").notNullable();
    t.text("object_type").notNullable();
    t.text("object_key").notNullable();
    t.jsonb("before");
    t.jsonb("after");
    t.text("reason");
    t.index(["object_type", "object_key", "id"]);
    t.index(["actor", "id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "audit_log",
    "api_tokens",
    "pins",
    "alias_history",
    "aliases",
    "versions",
    "agents",
    "systems",
    "upstreams",
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
