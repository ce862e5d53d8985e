/**
 * `agentgate datasets export|list|show|download`: fine-tuning datasets built from captured calls.
 * `export` creates the dataset on the server and, with `--out`, downloads it, checking each file's
 * SHA-256 against the one the server stored.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type Command, Option } from "commander";
import { FORMATS, PROMPT_MODES } from "../../datasets/build.js";
import { type DatasetView, MODES } from "../../datasets/schemas.js";
import { type ApiClient, type List, seg } from "../client.js";
import { collect, context, parseAgentArg, positiveInt } from "../context.js";
import { CliError, usageError } from "../errors.js";
import { emit, print, printFields, printTable } from "../output.js";

type ExportOptions = {
  name: string;
  agent: string[];
  mode: string;
  cap?: number;
  format: string;
  prompt: string;
  maxTokens?: number;
  weight: boolean;
  version?: string[];
  arm?: string[];
  experiment?: number;
  since?: string;
  until?: string;
  feedbackMetric?: string;
  feedbackMin?: number;
  feedbackMax?: number;
  feedbackEquals?: boolean | number;
  feedbackLevel: string;
  out?: string;
};

const finite = (what: string) => (raw: string) => {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw usageError(`${what} must be a number, got '${raw}'`);
  return n;
};

const feedbackValue = (raw: string): boolean | number => {
  if (raw === "true") return true;
  if (raw === "false") return false;
  return finite("--feedback-equals")(raw);
};

const isoTime = (what: string) => (raw: string) => {
  if (!/^\d{4}-\d\d-\d\dT/.test(raw) || Number.isNaN(Date.parse(raw)))
    throw usageError(`${what} must be an ISO 8601 date-time (e.g. 2026-11-01T00:00:00Z), got '${raw}'`);
  return raw;
};

/** `system/agent=1,2` → versions of that agent. */
function versionFilters(raw: string[] | undefined): Record<string, number[]> | undefined {
  if (!raw) return undefined;
  const out: Record<string, number[]> = {};
  for (const item of raw) {
    const [ref, list] = item.split("=", 2);
    const numbers = (list ?? "").split(",").map(Number);
    if (!ref || !list || numbers.some((n) => !Number.isInteger(n) || n < 1))
      throw usageError(`--version '${item}': expected <system/agent>=<n>[,<n>...]`);
    out[parseAgentArg(ref).ref] = [...(out[ref] ?? []), ...numbers];
  }
  return out;
}

const drops = (d: Record<string, number | undefined>) =>
  Object.entries(d)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

function showDataset(d: DatasetView): void {
  printFields([
    ["id", d.id],
    ["name", d.name],
    ["format", d.format],
    ["mode", d.mode],
    ["agents", d.agents.join(", ")],
    ["prompt", d.options.prompt],
    ["weight_assistant", d.options.weight_assistant],
    ["per_agent_cap", d.options.per_agent_cap],
    ["max_tokens", d.options.max_tokens_per_example],
    ["filters", JSON.stringify(d.filters)],
    ["examples", d.examples],
    ["considered", d.considered],
    ["dropped", drops(d.dropped)],
    ["tokens", `min ${d.tokens.min}, mean ${d.tokens.mean}, max ${d.tokens.max}, total ${d.tokens.total}`],
    ["sha256", d.content_sha256],
    ["created_by", d.created_by],
    ["created_at", d.created_at],
  ]);
  print();
  printTable(
    d.files,
    [
      { header: "FILE", value: (f) => (f.agent === "*" ? "(global)" : f.agent) },
      { header: "EXAMPLES", value: (f) => f.examples },
      { header: "BYTES", value: (f) => f.bytes },
      { header: "TOKENS", value: (f) => f.tokens.total },
      { header: "SHA256", value: (f) => f.sha256 },
      { header: "DROPPED", value: (f) => drops(f.dropped) },
    ],
    "No files.",
  );
}

/** Downloads one file, checks its SHA-256 and writes it. */
async function fetchFile(
  api: ApiClient,
  d: DatasetView,
  agent: string | undefined,
  target: string,
): Promise<{ file: string; sha256: string; bytes: number }> {
  const { body } = await api.download(`/datasets/${seg(d.id)}/download`, { agent });
  const sha256 = createHash("sha256").update(body).digest("hex");
  const expected = d.files.find((f) => f.agent === (agent ?? d.files[0]?.agent))?.sha256;
  if (sha256 !== expected)
    throw new CliError(
      `dataset ${d.id}: downloaded bytes have sha256 ${sha256}, the server stored ${expected}`,
    );
  mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  writeFileSync(target, body);
  return { file: target, sha256, bytes: body.length };
}

/** One file: `out` is the file. Several (per-agent): `out` is a directory of `<system>.<agent>.jsonl`. */
async function writeOut(api: ApiClient, d: DatasetView, out: string) {
  if (d.files.length === 1) return [await fetchFile(api, d, undefined, out)];
  const written = [];
  for (const f of d.files) {
    written.push(await fetchFile(api, d, f.agent, path.join(out, `${f.agent.replace("/", ".")}.jsonl`)));
  }
  return written;
}

export function registerDatasets(program: Command): void {
  const datasets = program
    .command("datasets")
    .description("fine-tuning datasets built from captured calls (see: agentgate capture)");

  datasets
    .command("export")
    .description("build a dataset from captured calls and, with --out, download it")
    .requiredOption("--name <name>", "dataset name (unique)")
    .requiredOption("--agent <system/agent>", "an agent to include (repeat for several)", collect)
    .addOption(
      new Option("--mode <mode>", "one file per agent, or one global file")
        .choices(MODES)
        .default("per_agent"),
    )
    .option("--cap <n>", "at most this many examples per agent (the most recent)", positiveInt("--cap"))
    .addOption(new Option("--format <format>", "file format").choices(FORMATS).default("openai"))
    .addOption(
      new Option(
        "--prompt <mode>",
        "train on the conversation as served, without demos, or as the client sent it",
      )
        .choices(PROMPT_MODES)
        .default("served"),
    )
    .option(
      "--max-tokens <n>",
      "token limit per example (estimated as characters / 4)",
      positiveInt("--max-tokens"),
    )
    .option("--no-weight", "train every assistant turn (no weight 0 on earlier turns)")
    .option(
      "--version <system/agent=n[,n]>",
      "keep only answers of these versions (repeat per agent)",
      collect,
    )
    .option("--arm <name>", "keep only calls assigned to this experiment arm (repeat)", collect)
    .option("--experiment <id>", "keep only calls of this experiment", positiveInt("--experiment"))
    .option("--since <iso>", "keep calls at or after this time", isoTime("--since"))
    .option("--until <iso>", "keep calls before this time", isoTime("--until"))
    .option("--feedback-metric <name>", "keep calls whose feedback on this metric passes")
    .option("--feedback-min <x>", "... is at least x", finite("--feedback-min"))
    .option("--feedback-max <x>", "... is at most x", finite("--feedback-max"))
    .option("--feedback-equals <v>", "... equals v (true, false or a number)", feedbackValue)
    .addOption(
      new Option("--feedback-level <level>", "the workflow run's feedback, or the call's own")
        .choices(["session", "call"])
        .default("session"),
    )
    .option("--out <path>", "download to this file (a directory for a per-agent dataset of several agents)")
    .action(async (opts: ExportOptions, cmd: Command) => {
      const agents = opts.agent.map((a) => parseAgentArg(a).ref);
      const fbGiven =
        opts.feedbackMin !== undefined || opts.feedbackMax !== undefined || opts.feedbackEquals !== undefined;
      if (fbGiven !== (opts.feedbackMetric !== undefined))
        throw usageError("--feedback-metric goes with --feedback-min, --feedback-max or --feedback-equals");
      const { api, json } = context(cmd);
      const filters = {
        versions: versionFilters(opts.version),
        arms: opts.arm,
        experiment: opts.experiment,
        since: opts.since,
        until: opts.until,
        feedback: opts.feedbackMetric
          ? {
              metric: opts.feedbackMetric,
              min: opts.feedbackMin,
              max: opts.feedbackMax,
              equals: opts.feedbackEquals,
              level: opts.feedbackLevel,
            }
          : undefined,
      };
      const d = await api.post<DatasetView>("/datasets", {
        name: opts.name,
        agents,
        mode: opts.mode,
        per_agent_cap: opts.cap,
        format: opts.format,
        prompt: opts.prompt,
        max_tokens_per_example: opts.maxTokens,
        weight_assistant: opts.weight,
        filters,
      });
      const written = opts.out ? await writeOut(api, d, opts.out) : [];
      emit(json, { ...d, written }, () => {
        print(`Dataset ${d.id} '${d.name}': ${d.examples} examples of ${d.considered} captured calls.`);
        showDataset(d);
        for (const w of written) print(`Wrote ${w.file} (${w.bytes} bytes, sha256 ${w.sha256}).`);
      });
    });

  datasets
    .command("list")
    .description("list datasets, newest first")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<DatasetView>>("/datasets");
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "ID", value: (d) => d.id },
            { header: "NAME", value: (d) => d.name },
            { header: "FORMAT", value: (d) => d.format },
            { header: "MODE", value: (d) => d.mode },
            { header: "AGENTS", value: (d) => d.agents.join(",") },
            { header: "EXAMPLES", value: (d) => d.examples },
            { header: "SHA256", value: (d) => d.content_sha256.slice(0, 12) },
            { header: "CREATED", value: (d) => d.created_at },
          ],
          "No datasets.",
        ),
      );
    });

  datasets
    .command("show")
    .description("show a dataset: options, filters, files, counts, token statistics, drop report")
    .argument("<id>", "dataset id", positiveInt("dataset id"))
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      emit(json, await api.get<DatasetView>(`/datasets/${seg(id)}`), showDataset);
    });

  datasets
    .command("download")
    .description("download a dataset (checking its SHA-256)")
    .argument("<id>", "dataset id", positiveInt("dataset id"))
    .requiredOption("--out <path>", "file to write (a directory for a per-agent dataset of several agents)")
    .option("--agent <system/agent>", "only this agent's file (per-agent datasets)")
    .action(async (id: number, opts: { out: string; agent?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const d = await api.get<DatasetView>(`/datasets/${seg(id)}`);
      const written = opts.agent
        ? [await fetchFile(api, d, parseAgentArg(opts.agent).ref, opts.out)]
        : await writeOut(api, d, opts.out);
      emit(json, { id: d.id, written }, () => {
        for (const w of written) print(`Wrote ${w.file} (${w.bytes} bytes, sha256 ${w.sha256}).`);
      });
    });
}
