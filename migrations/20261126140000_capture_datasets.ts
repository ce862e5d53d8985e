/**
 * Closing the loop, first half: per-agent capture of calls (settings and captured conversations)
 * and datasets built from them.
 *
 * - `capture_settings`: one row per agent that was ever configured (absent = capture off). The
 *   routing table loads the enabled rows, so the proxy decides without a database read.
 * - `captures`: one row per captured call, keyed by the event's request id (written in the same
 *   transaction as the event, so a capture never exists without its event). `messages` are the
 *   client's messages as sent (redacted); the version's prompt override is re-applied at export
 *   time when a dataset asks for the conversation as the upstream saw it (versions are immutable).
 * - `datasets` / `dataset_files`: a frozen export, its drop report and statistics, and the JSONL
 *   content itself (one file per agent, or one "global" file under agent `*`).
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("capture_settings", (t) => {
    t.integer("agent_id").primary().references("agents.id").onDelete("CASCADE");
    t.boolean("enabled").notNullable().defaultTo(false);
    t.integer("max_bytes").notNullable();
    t.jsonb("redact_paths").notNullable().defaultTo("[]");
    t.jsonb("redact_patterns").notNullable().defaultTo("[]");
    t.integer("retention_days").notNullable();
    t.text("updated_by").notNullable();
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("captures", (t) => {
    t.text("request_id").primary().references("inference_events.request_id").onDelete("CASCADE");
    t.timestamp("at", { useTz: true }).notNullable();
    t.integer("agent_id").notNullable().references("agents.id").onDelete("CASCADE");
    t.text("system").notNullable();
    t.text("agent").notNullable();
    // The version that answered (after a fallback, the champion that rescued the call).
    t.integer("version");
    t.jsonb("messages").notNullable();
    t.jsonb("tools");
    t.jsonb("response").notNullable();
    t.boolean("truncated").notNullable().defaultTo(false);
    t.integer("bytes").notNullable();
    t.index(["agent_id", "at"]);
  });

  await knex.schema.createTable("datasets", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.text("format").notNullable();
    t.text("mode").notNullable();
    t.jsonb("agents").notNullable();
    t.jsonb("filters").notNullable();
    t.jsonb("options").notNullable();
    t.text("content_sha256").notNullable();
    t.integer("examples").notNullable();
    t.integer("considered").notNullable();
    t.jsonb("tokens").notNullable();
    t.jsonb("dropped").notNullable();
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    "ALTER TABLE datasets ADD CONSTRAINT datasets_format_check CHECK (format IN ('openai', 'trl'))",
  );
  await knex.raw(
    "ALTER TABLE datasets ADD CONSTRAINT datasets_mode_check CHECK (mode IN ('per_agent', 'global'))",
  );

  await knex.schema.createTable("dataset_files", (t) => {
    t.integer("dataset_id").notNullable().references("datasets.id").onDelete("CASCADE");
    // `system/agent`, or `*` for the one file of a global dataset.
    t.text("agent").notNullable();
    t.integer("position").notNullable();
    t.text("sha256").notNullable();
    t.bigInteger("bytes").notNullable();
    t.integer("examples").notNullable();
    t.jsonb("tokens").notNullable();
    t.jsonb("dropped").notNullable();
    t.text("content").notNullable();
    t.primary(["dataset_id", "agent"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["dataset_files", "datasets", "captures", "capture_settings"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
