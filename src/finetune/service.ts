/**
 * Fine-tune jobs on trainers (OpenAI-compatible fine-tuning APIs registered as upstreams).
 *
 * Launch: the dataset's file is uploaded (`files.create`, purpose `fine-tune`), the job created
 * (`fine_tuning.jobs.create`), and a row stored with the dataset's id and SHA-256 and an audit
 * entry. Following: `refresh` asks the trainer for the job and applies what it says (`apply.ts`):
 * on success one `fine_tuned` version per agent, exactly once. Trainer failures are 502/504 with
 * the trainer's message; while following they are kept in `poll_error` and retried.
 */
import type { Knex } from "knex";
import type { FineTuningJob } from "openai/resources/fine-tuning/jobs/jobs";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound } from "../errors.js";
import type { PriceTable } from "../gateway/pricing.js";
import { findAgent, findUpstreamId } from "../registry/lookup.js";
import { parseAgentRef } from "../registry/names.js";
import { applyJob } from "./apply.js";
import type { FineTuneCreate, FineTuneView, Status } from "./schemas.js";
import { type FineTuneRow, needsFollowing, present } from "./store.js";
import { loadSdk, openTrainer, type Trainer, trainerCall, trainerError } from "./trainer.js";

const GLOBAL_FILE = "*";

export type FineTuneDeps = {
  db: Knex;
  prices: PriceTable;
  onChange: (trx: Knex.Transaction) => Promise<void>;
  env: NodeJS.ProcessEnv;
  /** Told once per job that reaches an end (succeeded, failed, cancelled). */
  onEnded?: (status: Status) => void;
};

export type LaunchOrigin = "api" | "openai";

export class FineTuneService {
  constructor(private readonly deps: FineTuneDeps) {}

  private get db() {
    return this.deps.db;
  }

  async launch(actor: Actor, input: FineTuneCreate, origin: LaunchOrigin = "api"): Promise<FineTuneView> {
    const ds = await this.db("datasets").where({ id: input.dataset }).first("id", "name", "agents", "mode");
    if (!ds) throw notFound("dataset_not_found", `dataset ${input.dataset}`);
    const files: { agent: string }[] = await this.db("dataset_files")
      .where({ dataset_id: ds.id })
      .orderBy("position")
      .select("agent");
    const agents: string[] = input.agents ?? ds.agents;
    if (agents.length === 0)
      throw new AppError("invalid_request", "agents: name the agents the fine-tuned model serves", "agents");
    const fileAgent = pickFile(ds.id, files, agents);
    const parents: Record<string, number> = {};
    for (const ref of agents) {
      const { system, agent } = parseAgentRef(ref) as { system: string; agent: string };
      const a = await findAgent(this.db, system, agent);
      // The version it was fine-tuned from: the champion, when that serves the base model.
      const champion = await this.db("aliases as al")
        .join("versions as v", "v.id", "al.version_id")
        .where({ "al.agent_id": a.id, "al.name": "champion" })
        .first("v.number", "v.model");
      if (champion && champion.model === input.base_model) parents[ref] = champion.number;
    }
    const trainer = await openTrainer(this.db, input.trainer, this.deps.env);
    await findUpstreamId(this.db, input.register.upstream ?? input.trainer);
    const file: { content: string; sha256: string } = await this.db("dataset_files")
      .where({ dataset_id: ds.id, agent: fileAgent })
      .first("content", "sha256");

    const suffix = fileAgent === GLOBAL_FILE ? "" : `.${fileAgent.replace("/", ".")}`;
    const { toFile } = await loadSdk();
    const uploaded = await trainerCall(trainer, "the training file upload", async () =>
      trainer.client.files.create({
        file: await toFile(Buffer.from(file.content, "utf8"), `${ds.name}${suffix}.jsonl`),
        purpose: "fine-tune",
      }),
    );
    let job: FineTuningJob;
    try {
      job = await trainer.client.fineTuning.jobs.create({
        model: input.base_model,
        training_file: uploaded.id,
        ...(input.suffix !== undefined ? { suffix: input.suffix } : {}),
        ...(input.hyperparameters !== undefined ? { hyperparameters: input.hyperparameters } : {}),
        ...(input.method !== undefined ? { method: input.method as never } : {}),
        ...(input.seed !== undefined ? { seed: input.seed } : {}),
      });
    } catch (err) {
      // Best effort: do not leave an orphan file on the trainer.
      await trainer.client.files.delete(uploaded.id).catch(() => {});
      throw trainerError(trainer.name, "the job creation", err);
    }

    const row = await this.db.transaction(async (trx) => {
      const [inserted] = (await trx("fine_tunes")
        .insert({
          origin,
          trainer: trainer.name,
          trainer_job_id: job.id,
          trainer_file_id: uploaded.id,
          status: "validating_files",
          dataset_id: ds.id,
          dataset_sha256: file.sha256,
          dataset_file: fileAgent,
          base_model: input.base_model,
          agents: JSON.stringify(agents),
          parents: JSON.stringify(parents),
          suffix: input.suffix ?? null,
          hyperparameters: input.hyperparameters ? JSON.stringify(input.hyperparameters) : null,
          method: input.method ? JSON.stringify(input.method) : null,
          register: JSON.stringify(input.register),
          created_by: actor.name,
        })
        .returning("*")) as FineTuneRow[];
      const view = present(inserted as FineTuneRow);
      await recordAudit(trx, {
        actor: actor.name,
        action: "fine_tune.create",
        objectType: "fine_tune",
        objectKey: String(view.id),
        after: view,
      });
      return inserted as FineTuneRow;
    });
    // The create answer already carries a status (a fast trainer may even be done).
    return this.applyAndPresent(row.id, job);
  }

  async list(q: { before?: number; limit: number; status?: Status }): Promise<FineTuneView[]> {
    const query = this.db("fine_tunes").select("*").orderBy("id", "desc").limit(q.limit);
    if (q.before !== undefined) query.where("id", "<", q.before);
    if (q.status) query.where("status", q.status);
    return ((await query) as FineTuneRow[]).map(present);
  }

  async row(id: number): Promise<FineTuneRow> {
    const row: FineTuneRow | undefined = await this.db("fine_tunes").where({ id }).first();
    if (!row) throw notFound("fine_tune_not_found", `fine-tune ${id}`);
    return row;
  }

  async get(id: number): Promise<FineTuneView> {
    return present(await this.row(id));
  }

  /**
   * Asks the trainer for the job and applies its answer; a job that is over (and registered) is
   * answered from the database. A trainer that cannot be reached leaves the stored state with
   * `poll_error` set: showing a job never fails because its trainer is down.
   */
  async refresh(id: number): Promise<FineTuneView> {
    const row = await this.row(id);
    const pending = await needsFollowing(this.db("fine_tunes").where({ id })).first("id");
    if (!pending) return present(row);
    let job: FineTuningJob;
    try {
      const trainer = await openTrainer(this.db, row.trainer, this.deps.env);
      job = await trainerCall(trainer, "a job status request", () =>
        trainer.client.fineTuning.jobs.retrieve(row.trainer_job_id),
      );
    } catch (err) {
      return this.recordPollError(id, err);
    }
    return this.applyAndPresent(id, job);
  }

  async events(id: number, q: { after?: string; limit: number }) {
    const row = await this.row(id);
    const trainer = await openTrainer(this.db, row.trainer, this.deps.env);
    const page = await trainerCall(trainer, "an events request", () =>
      trainer.client.fineTuning.jobs.listEvents(row.trainer_job_id, {
        limit: q.limit,
        ...(q.after ? { after: q.after } : {}),
      }),
    );
    return {
      object: "list" as const,
      data: page.data.map((e) => ({
        id: e.id,
        created_at: e.created_at,
        level: e.level,
        message: e.message,
        type: e.type,
        data: e.data,
      })),
      has_more: page.has_more,
    };
  }

  async cancel(actor: Actor, id: number, reason: string | null): Promise<FineTuneView> {
    const row = await this.row(id);
    if (row.status === "succeeded" || row.status === "failed" || row.status === "cancelled")
      throw new AppError("invalid_state", `fine-tune ${id} is already ${row.status}`);
    const trainer: Trainer = await openTrainer(this.db, row.trainer, this.deps.env);
    const job = await trainerCall(trainer, "the cancellation", () =>
      trainer.client.fineTuning.jobs.cancel(row.trainer_job_id),
    );
    await recordAudit(this.db, {
      actor: actor.name,
      action: "fine_tune.cancel",
      objectType: "fine_tune",
      objectKey: String(id),
      before: { status: row.status },
      after: { status: job.status },
      reason,
    });
    return this.applyAndPresent(id, job);
  }

  private async applyAndPresent(id: number, job: FineTuningJob): Promise<FineTuneView> {
    try {
      return present(await applyJob(this.deps, id, job));
    } catch (err) {
      // E.g. the serving upstream was deleted: the job stays to follow, with the reason shown.
      if (err instanceof AppError) return this.recordPollError(id, err);
      throw err;
    }
  }

  private async recordPollError(id: number, err: unknown): Promise<FineTuneView> {
    const message = err instanceof AppError ? err.message : "unexpected error while following the job";
    const [row] = (await this.db("fine_tunes")
      .where({ id })
      .update({ poll_error: message, updated_at: this.db.fn.now() })
      .returning("*")) as FineTuneRow[];
    return present(row as FineTuneRow);
  }
}

/**
 * The dataset file a job trains on: the only one, or (a per-agent dataset of several agents) the
 * file of the one agent the job is for.
 */
function pickFile(datasetId: number, files: { agent: string }[], agents: string[]): string {
  if (files.length === 1) return (files[0] as { agent: string }).agent;
  const only = agents.length === 1 ? files.find((f) => f.agent === agents[0]) : undefined;
  if (only) return only.agent;
  throw new AppError(
    "invalid_request",
    `dataset ${datasetId} has one file per agent (${files.map((f) => f.agent).join(", ")}): launch one job per agent with agents: [<one of them>], or export a global dataset for one shared model`,
    "agents",
  );
}
