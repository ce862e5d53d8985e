/**
 * MLflow Model Registry mirroring (src/mlflow/):
 * - `mlflow_links`: which MLflow model version mirrors each agentgate version (versions are
 *   immutable, so the link lives beside them rather than in their lineage). One row per version,
 *   and one version per MLflow model version.
 * - `mlflow_sync_lock`: a single-row lease, so two syncs (two replicas, or a periodic sync and a
 *   manual one) never create the same model version twice. A crashed holder's lease expires.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("mlflow_links", (t) => {
    t.integer("version_id").primary().references("versions.id").onDelete("CASCADE");
    t.text("registered_model").notNullable();
    t.text("model_version").notNullable();
    t.text("run_id");
    // 'push': agentgate created (or adopted) the MLflow version; 'pull': imported from MLflow.
    t.text("origin").notNullable();
    t.timestamp("synced_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["registered_model", "model_version"]);
  });
  await knex.raw(
    "ALTER TABLE mlflow_links ADD CONSTRAINT mlflow_links_origin_check CHECK (origin IN ('push', 'pull'))",
  );

  await knex.schema.createTable("mlflow_sync_lock", (t) => {
    t.integer("id").primary();
    t.text("holder").notNullable();
    t.timestamp("expires_at", { useTz: true }).notNullable();
  });
  await knex.raw("ALTER TABLE mlflow_sync_lock ADD CONSTRAINT mlflow_sync_lock_single CHECK (id = 1)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("mlflow_sync_lock");
  await knex.schema.dropTableIfExists("mlflow_links");
}
