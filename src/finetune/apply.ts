/**
 * Applying what a trainer says about a job, in one transaction under the job's row lock:
 * status, fine-tuned model, trained tokens, cost, error; audit entries on the way to an end; on
 * success one `fine_tuned` version per agent. The lock plus `registered_at` make registration
 * exactly-once: replicas (or a follower and a GET) that apply the same success concurrently queue
 * on the lock, and the later ones find the job registered.
 */
import type { Knex } from "knex";
import type { FineTuningJob } from "openai/resources/fine-tuning/jobs/jobs";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import { type PriceTable, trainingCostUsd } from "../gateway/pricing.js";
import { parseAgentRef } from "../registry/names.js";
import type { VersionCreate } from "../registry/schemas.js";
import { registerVersion } from "../registry/versions.js";
import { type FineTuneView, type RegisterOptions, STATUSES, type Status } from "./schemas.js";
import type { FineTuneRow } from "./store.js";

/** Who the audit log says registered the versions (token names cannot contain ':'). */
export const FINETUNE_ACTOR: Actor = { name: "system:finetune", scopes: ["admin"] };

type ApplyDeps = {
  db: Knex;
  prices: PriceTable;
  onChange: (trx: Knex.Transaction) => Promise<void>;
  /** Told once per job, after the commit that records its end (for the metrics). */
  onEnded?: (status: Status) => void;
};

/** Statuses outside OpenAI's list (Arbor and others have them) mapped to the nearest one. */
const NEAREST: Record<string, Status> = {
  pending: "queued",
  paused: "running",
  pending_pause: "running",
  pending_resume: "running",
  pending_cancel: "running",
};

export function mapStatus(status: string): Status | null {
  return (STATUSES as readonly string[]).includes(status) ? (status as Status) : (NEAREST[status] ?? null);
}

const TERMINAL = new Set<Status>(["succeeded", "failed", "cancelled"]);

export async function applyJob(deps: ApplyDeps, id: number, job: FineTuningJob): Promise<FineTuneRow> {
  let ended: Status | null = null;
  const row = await deps.db.transaction(async (trx) => {
    const row = (await trx("fine_tunes").where({ id }).forUpdate().first()) as FineTuneRow;
    const status = mapStatus(String(job.status)) ?? row.status;
    const done = row.status !== "succeeded" ? TERMINAL.has(row.status) : row.registered_at !== null;
    if (done) return row;
    if (status === "succeeded" && !job.fine_tuned_model)
      throw new AppError(
        "upstream_error",
        `trainer '${row.trainer}' reported job ${row.trainer_job_id} succeeded without a fine_tuned_model`,
      );
    const trained = typeof job.trained_tokens === "number" ? job.trained_tokens : null;
    const patch: Record<string, unknown> = {
      status,
      poll_error: null,
      updated_at: trx.fn.now(),
      fine_tuned_model: job.fine_tuned_model ?? null,
      trained_tokens: trained,
    };
    if (TERMINAL.has(status))
      patch.finished_at = job.finished_at ? new Date(job.finished_at * 1000) : trx.fn.now();
    if (status === "failed" || status === "cancelled") {
      const e = job.error as { code?: unknown; message?: unknown; param?: unknown } | null | undefined;
      patch.error = JSON.stringify(
        e && typeof e.message === "string" && e.message !== ""
          ? { code: str(e.code), message: e.message, param: str(e.param) }
          : { code: status, message: `the trainer reports the job ${status}`, param: null },
      );
    }
    if (status === "succeeded") {
      const { cost, note } = trainingCostUsd(deps.prices, row.base_model, trained);
      patch.training_cost_usd = cost;
      patch.cost_note = note;
      const versions = await registerAll(trx, deps, row, job.fine_tuned_model as string, trained, cost);
      patch.versions = JSON.stringify(versions);
      patch.registered_at = trx.fn.now();
    }
    const [updated] = (await trx("fine_tunes").where({ id }).update(patch).returning("*")) as FineTuneRow[];
    if (status !== row.status && TERMINAL.has(status)) {
      ended = status;
      const u = updated as FineTuneRow;
      await recordAudit(trx, {
        actor: FINETUNE_ACTOR.name,
        action: `fine_tune.${status}`,
        objectType: "fine_tune",
        objectKey: String(id),
        before: { status: row.status },
        after: {
          status,
          fine_tuned_model: u.fine_tuned_model,
          trained_tokens: u.trained_tokens === null ? null : Number(u.trained_tokens),
          training_cost_usd: u.training_cost_usd,
          versions: u.versions,
          error: u.error,
        },
      });
    }
    return updated as FineTuneRow;
  });
  if (ended) deps.onEnded?.(ended);
  return row;
}

const str = (v: unknown) => (typeof v === "string" ? v : null);

/**
 * One version per agent, all naming the same job. A shared ("global") model's training cost is
 * split evenly across its versions, so an experiment arm that uses all of them counts it once;
 * the lineage keeps the whole job's cost.
 */
async function registerAll(
  trx: Knex.Transaction,
  deps: ApplyDeps,
  row: FineTuneRow,
  model: string,
  trained: number | null,
  cost: number | null,
): Promise<FineTuneView["versions"]> {
  const reg = row.register as RegisterOptions;
  const out: FineTuneView["versions"] = [];
  for (const ref of row.agents) {
    const { system, agent } = parseAgentRef(ref) as { system: string; agent: string };
    const parent = row.parents[ref];
    const input: VersionCreate = {
      kind: "fine_tuned",
      upstream: reg.upstream ?? row.trainer,
      model,
      prompt: reg.prompt ?? null,
      params: reg.params ?? null,
      lineage: {
        ...(parent !== undefined ? { parent_version: parent } : {}),
        dataset: String(row.dataset_id),
        dataset_id: row.dataset_id,
        dataset_sha256: row.dataset_sha256,
        base_model: row.base_model,
        fine_tune_job: String(row.id),
        trainer: row.trainer,
        trainer_job_id: row.trainer_job_id,
        trained_tokens: trained,
        job_training_cost_usd: cost,
        ...(row.agents.length > 1 ? { shared_with: row.agents } : {}),
      },
      training_cost_usd: cost === null ? null : cost / row.agents.length,
      tags: { ...(reg.tags ?? {}), fine_tune_job: String(row.id) },
    };
    const v = await registerVersion(trx, FINETUNE_ACTOR, system, agent, input, deps.onChange);
    out.push({ agent: ref, version: v.number });
  }
  return out;
}
