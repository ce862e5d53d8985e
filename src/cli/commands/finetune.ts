/**
 * `agentgate finetune launch|status|list|events|cancel`: fine-tune jobs of datasets on trainers
 * (OpenAI-compatible fine-tuning APIs registered as upstreams). `status --wait` follows a job
 * until it ends and exits non-zero when it failed or was cancelled.
 */
import type { Command } from "commander";
import type { FineTuneView } from "../../finetune/schemas.js";
import { type List, seg } from "../client.js";
import { collect, context, parseAgentArg, positiveInt } from "../context.js";
import { CliError, usageError } from "../errors.js";
import { emit, print, printFields, printTable } from "../output.js";
import { parseJsonObject, parseTags } from "./versions.js";

type LaunchOptions = {
  dataset: number;
  trainer: string;
  baseModel: string;
  agent?: string[];
  suffix?: string;
  epochs?: string;
  batchSize?: string;
  learningRateMultiplier?: string;
  seed?: number;
  serveUpstream?: string;
  systemPrompt?: string;
  params?: string;
  tag?: string[];
};

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** `auto` or a positive number, as OpenAI's hyperparameters take them. */
const autoOrNumber = (what: string) => (raw: string | undefined) => {
  if (raw === undefined) return undefined;
  if (raw === "auto") return "auto";
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw usageError(`${what} must be 'auto' or a positive number, got '${raw}'`);
  return n;
};

function showJob(j: FineTuneView): void {
  printFields([
    ["id", j.id],
    ["status", j.status],
    ["origin", j.origin],
    ["trainer", `${j.trainer} (job ${j.trainer_job_id}, file ${j.trainer_file_id})`],
    [
      "dataset",
      `${j.dataset.id} (${j.dataset.file === "*" ? "global file" : j.dataset.file}, sha256 ${j.dataset.sha256})`,
    ],
    ["base_model", j.base_model],
    ["agents", j.agents.join(", ")],
    ["suffix", j.suffix],
    ["fine_tuned_model", j.fine_tuned_model],
    ["trained_tokens", j.trained_tokens],
    ["training_cost_usd", j.training_cost_usd ?? (j.cost_note ? `unknown: ${j.cost_note}` : null)],
    ["versions", j.versions.map((v) => `${v.agent} v${v.version}`).join(", ") || null],
    ["error", j.error ? `${j.error.message}${j.error.code ? ` (${j.error.code})` : ""}` : null],
    ["poll_error", j.poll_error],
    ["created_by", j.created_by],
    ["created_at", j.created_at],
    ["finished_at", j.finished_at],
  ]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function registerFinetune(program: Command): void {
  const ft = program
    .command("finetune")
    .description("fine-tune jobs: train a dataset on a trainer; success registers fine_tuned versions");

  ft.command("launch")
    .description("upload a dataset to a trainer and start a fine-tune job")
    .requiredOption("--dataset <id>", "dataset id (see: agentgate datasets list)", positiveInt("--dataset"))
    .requiredOption("--trainer <upstream>", "the trainer: an upstream serving the OpenAI fine-tuning API")
    .requiredOption("--base-model <model>", "the model to fine-tune, as the trainer names it")
    .option(
      "--agent <system/agent>",
      "an agent that gets a version on success (repeat; default: the dataset's agents)",
      collect,
    )
    .option("--suffix <text>", "suffix of the fine-tuned model's name")
    .option("--epochs <n>", "n_epochs: a number or auto")
    .option("--batch-size <n>", "batch_size: a number or auto")
    .option("--learning-rate-multiplier <x>", "learning_rate_multiplier: a number or auto")
    .option("--seed <n>", "training seed", positiveInt("--seed"))
    .option("--serve-upstream <name>", "upstream that serves the fine-tuned model (default: the trainer)")
    .option("--system-prompt <text>", "prompt override of the new versions (e.g. shorter instructions)")
    .option("--params <json>", "generation params of the new versions, as a JSON object")
    .option("--tag <key=value>", "tag of the new versions (repeat)", collect)
    .action(async (o: LaunchOptions, cmd: Command) => {
      const agents = o.agent?.map((a) => parseAgentArg(a).ref);
      const hp = {
        n_epochs: autoOrNumber("--epochs")(o.epochs),
        batch_size: autoOrNumber("--batch-size")(o.batchSize),
        learning_rate_multiplier: autoOrNumber("--learning-rate-multiplier")(o.learningRateMultiplier),
      };
      const hyperparameters = Object.values(hp).some((v) => v !== undefined) ? hp : undefined;
      const register = {
        upstream: o.serveUpstream,
        prompt: o.systemPrompt === undefined ? undefined : { system: o.systemPrompt },
        params: o.params === undefined ? undefined : parseJsonObject(o.params, "--params"),
        tags: o.tag ? parseTags(o.tag) : undefined,
      };
      const { api, json } = context(cmd);
      const job = await api.post<FineTuneView>("/fine-tunes", {
        dataset: o.dataset,
        trainer: o.trainer,
        base_model: o.baseModel,
        agents,
        suffix: o.suffix,
        hyperparameters,
        seed: o.seed,
        register,
      });
      emit(json, job, () => {
        print(`Fine-tune ${job.id} launched on '${job.trainer}' (trainer job ${job.trainer_job_id}).`);
        showJob(job);
      });
    });

  ft.command("status")
    .description("show a fine-tune job (refreshed from its trainer)")
    .argument("<id>", "fine-tune id", positiveInt("fine-tune id"))
    .option("--wait", "poll until the job ends; exit non-zero if it failed or was cancelled")
    .option(
      "--interval <seconds>",
      "seconds between polls with --wait (default 10)",
      positiveInt("--interval"),
      10,
    )
    .action(async (id: number, o: { wait?: boolean; interval: number }, cmd: Command) => {
      const { api, json } = context(cmd);
      let job = await api.get<FineTuneView>(`/fine-tunes/${seg(id)}`);
      while (
        o.wait &&
        !(TERMINAL.has(job.status) && (job.status !== "succeeded" || job.versions.length > 0))
      ) {
        if (!json)
          print(`${new Date().toISOString()} ${job.status}${job.poll_error ? ` (${job.poll_error})` : ""}`);
        await sleep(o.interval * 1000);
        job = await api.get<FineTuneView>(`/fine-tunes/${seg(id)}`);
      }
      emit(json, job, showJob);
      if (o.wait && job.status !== "succeeded")
        throw new CliError(`fine-tune ${id} ${job.status}${job.error ? `: ${job.error.message}` : ""}`);
    });

  ft.command("list")
    .description("list fine-tune jobs, newest first")
    .option("--status <status>", "only jobs with this status")
    .action(async (o: { status?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<FineTuneView>>("/fine-tunes", { status: o.status });
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "ID", value: (j) => j.id },
            { header: "STATUS", value: (j) => j.status },
            { header: "TRAINER", value: (j) => j.trainer },
            { header: "DATASET", value: (j) => j.dataset.id },
            { header: "BASE MODEL", value: (j) => j.base_model },
            { header: "AGENTS", value: (j) => j.agents.join(",") },
            { header: "MODEL", value: (j) => j.fine_tuned_model },
            { header: "VERSIONS", value: (j) => j.versions.map((v) => `${v.agent}@${v.version}`).join(",") },
            { header: "CREATED", value: (j) => j.created_at },
          ],
          "No fine-tune jobs.",
        ),
      );
    });

  ft.command("events")
    .description("the trainer's events of a job, newest first")
    .argument("<id>", "fine-tune id", positiveInt("fine-tune id"))
    .option("--limit <n>", "how many (at most 100)", positiveInt("--limit"), 20)
    .option("--after <event-id>", "page after this event")
    .action(async (id: number, o: { limit: number; after?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      type Ev = { id: string; created_at: number; level: string; message: string };
      const res = await api.get<{ data: Ev[]; has_more: boolean }>(`/fine-tunes/${seg(id)}/events`, {
        limit: o.limit,
        after: o.after,
      });
      emit(json, res, ({ data, has_more }) => {
        printTable(
          data,
          [
            { header: "AT", value: (e) => new Date(e.created_at * 1000).toISOString() },
            { header: "LEVEL", value: (e) => e.level },
            { header: "MESSAGE", value: (e) => e.message },
            { header: "ID", value: (e) => e.id },
          ],
          "No events.",
        );
        if (has_more) print(`More: --after ${data.at(-1)?.id}`);
      });
    });

  ft.command("cancel")
    .description("cancel a running fine-tune job")
    .argument("<id>", "fine-tune id", positiveInt("fine-tune id"))
    .option("--reason <text>", "why (kept in the audit log)")
    .action(async (id: number, o: { reason?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const job = await api.post<FineTuneView>(`/fine-tunes/${seg(id)}/cancel`, { reason: o.reason });
      emit(json, job, () => {
        print(`Fine-tune ${job.id}: ${job.status}.`);
        showJob(job);
      });
    });
}
