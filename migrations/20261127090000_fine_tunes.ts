/**
 * Fine-tune jobs: one row per job launched on a trainer (an OpenAI-compatible fine-tuning API,
 * registered as an upstream), tracked until it ends.
 *
 * - `trainer_job_id` / `trainer_file_id`: the trainer's ids; the trainer's key is never stored
 *   (the upstream names its environment variable).
 * - `dataset_id` + `dataset_sha256` + `dataset_file`: exactly which bytes were uploaded.
 * - `agents`: the agents that get a version when the job succeeds (several = a "global" model),
 *   with `parents` the version each one was fine-tuned from (its champion at launch, when it
 *   served the base model).
 * - `versions`: what the job registered, `[{agent, version}]`; `registered_at` is set in the same
 *   transaction, under the row lock, so a job registers its versions exactly once whichever
 *   replica sees it succeed first.
 * - `claimed_until`: a lease taken by one replica's follower before it asks the trainer, so
 *   replicas do not all poll the same job (correctness does not depend on it).
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("fine_tunes", (t) => {
    t.increments("id");
    t.text("origin").notNullable().defaultTo("api");
    t.text("trainer").notNullable();
    t.text("trainer_job_id").notNullable();
    t.text("trainer_file_id").notNullable();
    t.text("status").notNullable();
    t.integer("dataset_id").notNullable().references("datasets.id");
    t.text("dataset_sha256").notNullable();
    t.text("dataset_file").notNullable();
    t.text("base_model").notNullable();
    t.jsonb("agents").notNullable();
    t.jsonb("parents").notNullable().defaultTo("{}");
    t.text("suffix");
    t.jsonb("hyperparameters");
    t.jsonb("method");
    t.jsonb("register").notNullable().defaultTo("{}");
    t.text("fine_tuned_model");
    t.bigInteger("trained_tokens");
    t.double("training_cost_usd");
    t.text("cost_note");
    t.jsonb("error");
    t.text("poll_error");
    t.jsonb("versions").notNullable().defaultTo("[]");
    t.timestamp("registered_at", { useTz: true });
    t.timestamp("claimed_until", { useTz: true });
    t.text("created_by").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("finished_at", { useTz: true });
    t.unique(["trainer", "trainer_job_id"]);
    t.index(["status"]);
  });
  await knex.raw(
    `ALTER TABLE fine_tunes ADD CONSTRAINT fine_tunes_status_check CHECK (status IN
     ('validating_files', 'queued', 'running', 'succeeded', 'failed', 'cancelled'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("fine_tunes");
}
