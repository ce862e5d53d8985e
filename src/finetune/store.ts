/** The `fine_tunes` table: row type, presentation, and the follower's lease. */
import type { Knex } from "knex";
import { iso } from "../registry/lookup.js";
import { type FineTuneView, type Status, TERMINAL } from "./schemas.js";

export type FineTuneRow = {
  id: number;
  origin: string;
  trainer: string;
  trainer_job_id: string;
  trainer_file_id: string;
  status: Status;
  dataset_id: number;
  dataset_sha256: string;
  dataset_file: string;
  base_model: string;
  agents: string[];
  parents: Record<string, number>;
  suffix: string | null;
  hyperparameters: unknown;
  method: unknown;
  register: Record<string, unknown>;
  fine_tuned_model: string | null;
  trained_tokens: string | number | null;
  training_cost_usd: number | null;
  cost_note: string | null;
  error: FineTuneView["error"];
  poll_error: string | null;
  versions: FineTuneView["versions"];
  registered_at: Date | null;
  claimed_until: Date | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
};

export function present(r: FineTuneRow): FineTuneView {
  return {
    id: r.id,
    origin: r.origin,
    status: r.status,
    trainer: r.trainer,
    trainer_job_id: r.trainer_job_id,
    trainer_file_id: r.trainer_file_id,
    dataset: { id: r.dataset_id, sha256: r.dataset_sha256, file: r.dataset_file },
    base_model: r.base_model,
    agents: r.agents,
    suffix: r.suffix,
    hyperparameters: r.hyperparameters ?? null,
    method: r.method ?? null,
    register: r.register,
    fine_tuned_model: r.fine_tuned_model,
    trained_tokens: r.trained_tokens === null ? null : Number(r.trained_tokens),
    training_cost_usd: r.training_cost_usd,
    cost_note: r.cost_note,
    error: r.error ?? null,
    poll_error: r.poll_error,
    versions: r.versions,
    created_by: r.created_by,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    finished_at: r.finished_at ? iso(r.finished_at) : null,
  };
}

/** A job still to follow: not ended, or succeeded and its versions not yet registered. */
export function needsFollowing(q: Knex.QueryBuilder): Knex.QueryBuilder {
  return q.where((w) =>
    w
      .whereNotIn("status", TERMINAL as Status[])
      .orWhere((s) => s.where("status", "succeeded").whereNull("registered_at")),
  );
}

/**
 * Takes the follower's lease on a job for `leaseMs`: true for exactly one caller among replicas
 * racing for it (a conditional UPDATE is atomic in PostgreSQL). An expired lease (a replica died
 * while polling) can be taken again.
 */
export async function claim(db: Knex, id: number, leaseMs: number): Promise<boolean> {
  const rows = await needsFollowing(db("fine_tunes").where({ id }))
    .where((w) => w.whereNull("claimed_until").orWhere("claimed_until", "<", db.fn.now()))
    .update({ claimed_until: db.raw("now() + make_interval(secs => ?)", [leaseMs / 1000]) })
    .returning("id");
  return rows.length === 1;
}

export async function release(db: Knex, id: number): Promise<void> {
  await db("fine_tunes").where({ id }).update({ claimed_until: null });
}
