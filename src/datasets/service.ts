/**
 * Datasets: frozen exports of captured calls for one or several agents, as fine-tuning JSONL.
 *
 * Building one reads the captures that match the filters (joined with their events for version,
 * arm, experiment and session, and with feedback), in one read-only snapshot so concurrent traffic
 * cannot shift pages; turns each into an example or a drop reason (`build.ts`); de-duplicates
 * (the oldest occurrence stays: per file, or across the whole file of a global dataset); applies
 * the per-agent cap (the most recent examples stay); and requires at least 10 examples per file.
 * The content is stored with its SHA-256, counts, token statistics and the drop report, in the
 * same transaction as the audit entry.
 */
import { createHash } from "node:crypto";
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound, uniqueName } from "../errors.js";
import { DECLARE_HINT, findDeclaredMetric } from "../experiments/metrics.js";
import type { PromptOverride } from "../gateway/routing-table.js";
import { type AgentRow, findAgent, iso } from "../registry/lookup.js";
import { parseAgentRef } from "../registry/names.js";
import { type BuildOptions, type DropReason, type Example, toExample } from "./build.js";
import { type DatasetCreate, type DatasetView, MIN_EXAMPLES, type TokenStats } from "./schemas.js";

const PAGE = 1000;
/** The whole dataset: beyond this many examples or bytes, narrow the filters or cap per agent. */
const MAX_EXAMPLES = 200_000;
const MAX_BYTES = 256 * 1024 * 1024;
const GLOBAL = "*";

type Dropped = Partial<Record<DropReason, number>>;
type Kept = Example & { at: number; requestId: string };
type AgentPart = { ref: string; kept: Kept[]; dropped: Dropped; considered: number };
type FileOut = {
  agent: string;
  content: string;
  sha256: string;
  bytes: number;
  examples: number;
  tokens: TokenStats;
  dropped: Dropped;
};

type DatasetRow = {
  id: number;
  name: string;
  format: DatasetView["format"];
  mode: DatasetView["mode"];
  agents: string[];
  filters: Record<string, unknown>;
  options: DatasetView["options"];
  content_sha256: string;
  examples: number;
  considered: number;
  tokens: TokenStats;
  dropped: Dropped;
  created_by: string;
  created_at: Date;
};
type FileRow = Omit<FileOut, "content"> & { dataset_id: number; position: number };

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const count = (d: Dropped, reason: DropReason, n = 1) => {
  d[reason] = (d[reason] ?? 0) + n;
};

function stats(tokens: number[]): TokenStats {
  if (tokens.length === 0) return { min: 0, mean: 0, max: 0, total: 0 };
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let total = 0;
  for (const t of tokens) {
    if (t < min) min = t;
    if (t > max) max = t;
    total += t;
  }
  return { min, mean: Math.round((total / tokens.length) * 10) / 10, max, total };
}

function merge(into: Dropped, from: Dropped): Dropped {
  for (const [k, v] of Object.entries(from)) count(into, k as DropReason, v);
  return into;
}

const describeDrops = (d: Dropped) =>
  Object.entries(d)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

export class DatasetService {
  constructor(private readonly db: Knex) {}

  async create(actor: Actor, input: DatasetCreate): Promise<DatasetView> {
    const agents: { ref: string; row: AgentRow }[] = [];
    for (const ref of input.agents) {
      const { system, agent } = parseAgentRef(ref) as { system: string; agent: string };
      agents.push({ ref, row: await findAgent(this.db, system, agent) });
    }
    const f = input.filters;
    if (f.feedback && !(await findDeclaredMetric(this.db, f.feedback.metric))) {
      throw new AppError(
        "metric_not_found",
        `metric '${f.feedback.metric}' is not a declared metric (feedback filters use declared metrics): ${DECLARE_HINT}`,
        "filters.feedback.metric",
      );
    }
    if (f.experiment !== undefined && !(await this.db("experiments").where({ id: f.experiment }).first("id")))
      throw notFound("experiment_not_found", `experiment ${f.experiment}`);
    if (await this.db("datasets").where({ name: input.name }).first("id"))
      throw new AppError("already_exists", `dataset '${input.name}' already exists`, "name");

    const options: BuildOptions = {
      format: input.format,
      prompt: input.prompt,
      maxTokens: input.max_tokens_per_example,
      weightAssistant: input.weight_assistant,
    };
    const seenGlobal = new Set<string>();
    const parts = await this.db.transaction(
      async (trx) => {
        const out: AgentPart[] = [];
        for (const a of agents) {
          const seen = input.mode === "global" ? seenGlobal : new Set<string>();
          out.push(await this.readAgent(trx, a.ref, a.row.id, input, options, seen));
        }
        return out;
      },
      { readOnly: true, isolationLevel: "repeatable read" },
    );

    const files = this.files(input, parts);
    const considered = parts.reduce((n, p) => n + p.considered, 0);
    const examples = files.reduce((n, file) => n + file.examples, 0);
    const dropped = parts.reduce((d, p) => merge(d, p.dropped), {} as Dropped);
    const tooSmall = files.filter((file) => file.examples < MIN_EXAMPLES);
    if (tooSmall.length > 0) {
      const what = tooSmall
        .map((file) => {
          const part = parts.find((p) => p.ref === file.agent);
          const of = part ? part.considered : considered;
          return `${file.agent === GLOBAL ? "the dataset" : file.agent} has ${file.examples} valid examples of ${of} captured calls matching the filters (dropped: ${describeDrops(file.dropped)})`;
        })
        .join("; ");
      throw new AppError(
        "insufficient_examples",
        `too few examples: at least ${MIN_EXAMPLES} per file are needed; ${what}`,
      );
    }
    const contentSha =
      files.length === 1
        ? (files[0] as FileOut).sha256
        : sha256(files.map((file) => `${file.sha256}  ${file.agent}.jsonl\n`).join(""));
    // Token statistics of what the files hold (after de-duplication and the cap).
    const tokens =
      files.length === 1
        ? (files[0] as FileOut).tokens
        : combine(
            files.map((file) => file.tokens),
            files.map((file) => file.examples),
          );

    return uniqueName("dataset", input.name, () =>
      this.db.transaction(async (trx) => {
        const [row] = await trx("datasets")
          .insert({
            name: input.name,
            format: input.format,
            mode: input.mode,
            agents: JSON.stringify(input.agents),
            filters: JSON.stringify(f),
            options: JSON.stringify({
              prompt: input.prompt,
              per_agent_cap: input.per_agent_cap ?? null,
              max_tokens_per_example: input.max_tokens_per_example,
              weight_assistant: input.weight_assistant,
            }),
            content_sha256: contentSha,
            examples,
            considered,
            tokens: JSON.stringify(tokens),
            dropped: JSON.stringify(dropped),
            created_by: actor.name,
          })
          .returning("*");
        const id = (row as DatasetRow).id;
        for (const [position, file] of files.entries()) {
          await trx("dataset_files").insert({
            dataset_id: id,
            agent: file.agent,
            position,
            sha256: file.sha256,
            bytes: file.bytes,
            examples: file.examples,
            tokens: JSON.stringify(file.tokens),
            dropped: JSON.stringify(file.dropped),
            content: file.content,
          });
        }
        const view = await this.present(trx, row as DatasetRow);
        const { files: fileViews, ...summary } = view;
        await recordAudit(trx, {
          actor: actor.name,
          action: "dataset.create",
          objectType: "dataset",
          objectKey: input.name,
          after: {
            ...summary,
            files: fileViews.map(({ agent, sha256, examples }) => ({ agent, sha256, examples })),
          },
        });
        return view;
      }),
    );
  }

  async list(q: { before?: number; limit: number }): Promise<DatasetView[]> {
    const query = this.db("datasets").select("*").orderBy("id", "desc").limit(q.limit);
    if (q.before !== undefined) query.where("id", "<", q.before);
    const rows: DatasetRow[] = await query;
    return Promise.all(rows.map((r) => this.present(this.db, r)));
  }

  async get(id: number): Promise<DatasetView> {
    const row: DatasetRow | undefined = await this.db("datasets").where({ id }).first();
    if (!row) throw notFound("dataset_not_found", `dataset ${id}`);
    return this.present(this.db, row);
  }

  /** One file's content: the only file, or the named agent's (per-agent datasets of several agents). */
  async file(id: number, agent: string | undefined) {
    const ds = await this.get(id);
    let name: string;
    if (ds.mode === "global") {
      if (agent !== undefined)
        throw new AppError(
          "invalid_request",
          `agent: dataset ${id} is global (one file for all its agents); leave agent out`,
          "agent",
        );
      name = GLOBAL;
    } else if (agent === undefined) {
      if (ds.files.length > 1) {
        throw new AppError(
          "invalid_request",
          `agent: dataset ${id} has one file per agent; name one with ?agent= (${ds.agents.join(", ")})`,
          "agent",
        );
      }
      name = (ds.files[0] as { agent: string }).agent;
    } else {
      name = agent;
    }
    const row: { content: string; sha256: string } | undefined = await this.db("dataset_files")
      .where({ dataset_id: id, agent: name })
      .first("content", "sha256");
    if (!row) throw notFound("dataset_not_found", `file for '${name}' in dataset ${id}`);
    const suffix = name === GLOBAL ? "" : `.${name.replace("/", ".")}`;
    return { filename: `${ds.name}${suffix}.jsonl`, content: row.content, sha256: row.sha256 };
  }

  private async readAgent(
    trx: Knex.Transaction,
    ref: string,
    agentId: number,
    input: DatasetCreate,
    options: BuildOptions,
    seen: Set<string>,
  ): Promise<AgentPart> {
    const prompts = new Map<number, PromptOverride | null>();
    for (const v of await trx("versions").where({ agent_id: agentId }).select("number", "prompt"))
      prompts.set(v.number, (v.prompt as PromptOverride | null) ?? null);
    const part: AgentPart = { ref, kept: [], dropped: {}, considered: 0 };
    const cap = input.per_agent_cap;
    for (let offset = 0; ; offset += PAGE) {
      const rows = await this.query(trx, agentId, ref, input).limit(PAGE).offset(offset);
      for (const r of rows) {
        part.considered++;
        const outcome = toExample(
          {
            messages: r.messages,
            tools: r.tools,
            response: r.response,
            truncated: r.truncated,
            prompt: r.version === null ? null : (prompts.get(r.version) ?? null),
          },
          options,
        );
        if (!outcome.ok) {
          count(part.dropped, outcome.reason);
          continue;
        }
        if (seen.has(outcome.example.hash)) {
          count(part.dropped, "duplicate");
          continue;
        }
        seen.add(outcome.example.hash);
        part.kept.push({ ...outcome.example, at: new Date(r.at).getTime(), requestId: r.request_id });
        // With a cap only the most recent `cap` stay: trim as we go to bound memory.
        if (cap !== undefined && part.kept.length >= 2 * cap) {
          const over = part.kept.length - cap;
          part.kept.splice(0, over);
          count(part.dropped, "over_cap", over);
        }
        if (cap === undefined && part.kept.length > MAX_EXAMPLES)
          tooLarge(`more than ${MAX_EXAMPLES} examples`);
      }
      if (rows.length < PAGE) break;
    }
    if (cap !== undefined && part.kept.length > cap) {
      const over = part.kept.length - cap;
      part.kept.splice(0, over);
      count(part.dropped, "over_cap", over);
    }
    return part;
  }

  /** The captures of one agent that match the filters, oldest first. */
  private query(trx: Knex.Transaction, agentId: number, ref: string, input: DatasetCreate) {
    const f = input.filters;
    const q = trx("captures as c")
      .join("inference_events as e", "e.request_id", "c.request_id")
      .where("c.agent_id", agentId)
      .select("c.request_id", "c.at", "c.version", "c.messages", "c.tools", "c.response", "c.truncated")
      .orderBy([
        { column: "c.at", order: "asc" },
        { column: "c.request_id", order: "asc" },
      ]);
    const versions = f.versions?.[ref];
    if (versions) q.whereIn("c.version", versions);
    if (f.arms) q.whereIn("e.arm", f.arms);
    if (f.experiment !== undefined) q.where("e.experiment_id", f.experiment);
    if (f.since) q.where("c.at", ">=", f.since);
    if (f.until) q.where("c.at", "<", f.until);
    const fb = f.feedback;
    if (fb) {
      // The latest value of the metric for the call's run (or the call itself): feedback can be
      // corrected by sending it again, and a run or call without any is left out.
      const target = fb.level === "session" ? "f.session_id = e.session_id" : "f.request_id = c.request_id";
      const latest = `(select f.value from feedback f where ${target} and f.metric = ? order by f.id desc limit 1)`;
      if (fb.equals !== undefined) q.whereRaw(`${latest} = ?`, [fb.metric, Number(fb.equals)]);
      if (fb.min !== undefined) q.whereRaw(`${latest} >= ?`, [fb.metric, fb.min]);
      if (fb.max !== undefined) q.whereRaw(`${latest} <= ?`, [fb.metric, fb.max]);
    }
    return q;
  }

  private files(input: DatasetCreate, parts: AgentPart[]): FileOut[] {
    const file = (agent: string, kept: Kept[], dropped: Dropped): FileOut => {
      const content = kept.map((k) => `${k.line}\n`).join("");
      const bytes = Buffer.byteLength(content);
      if (bytes > MAX_BYTES) tooLarge(`more than ${MAX_BYTES / 1024 / 1024} MiB`);
      return {
        agent,
        content,
        sha256: sha256(content),
        bytes,
        examples: kept.length,
        tokens: stats(kept.map((k) => k.tokens)),
        dropped,
      };
    };
    if (input.mode === "per_agent") return parts.map((p) => file(p.ref, p.kept, p.dropped));
    const all = parts.flatMap((p) => p.kept);
    if (all.length > MAX_EXAMPLES) tooLarge(`more than ${MAX_EXAMPLES} examples`);
    // One file in the order the calls happened, whichever agent made them.
    all.sort((a, b) => a.at - b.at || (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
    return [
      file(
        GLOBAL,
        all,
        parts.reduce((d, p) => merge(d, p.dropped), {} as Dropped),
      ),
    ];
  }

  private async present(q: Knex | Knex.Transaction, row: DatasetRow): Promise<DatasetView> {
    const files: FileRow[] = await q("dataset_files")
      .where({ dataset_id: row.id })
      .orderBy("position")
      .select("agent", "sha256", "bytes", "examples", "tokens", "dropped");
    return {
      id: row.id,
      name: row.name,
      format: row.format,
      mode: row.mode,
      agents: row.agents,
      filters: row.filters,
      options: row.options,
      content_sha256: row.content_sha256,
      examples: row.examples,
      considered: row.considered,
      tokens: row.tokens,
      dropped: row.dropped,
      files: files.map((file) => ({
        agent: file.agent,
        sha256: file.sha256,
        bytes: Number(file.bytes),
        examples: file.examples,
        tokens: file.tokens,
        dropped: file.dropped,
      })),
      created_by: row.created_by,
      created_at: iso(row.created_at),
    };
  }
}

function tooLarge(what: string): never {
  throw new AppError(
    "payload_too_large",
    `the dataset would hold ${what}: narrow the filters (since, until, versions, feedback) or set per_agent_cap`,
  );
}

/** Statistics of several files together, from each file's statistics and example count. */
function combine(all: TokenStats[], counts: number[]): TokenStats {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0) return { min: 0, mean: 0, max: 0, total: 0 };
  const present = all.filter((_, i) => (counts[i] ?? 0) > 0);
  const total = all.reduce((a, s) => a + s.total, 0);
  return {
    min: Math.min(...present.map((s) => s.min)),
    mean: Math.round((total / n) * 10) / 10,
    max: Math.max(...present.map((s) => s.max)),
    total,
  };
}
