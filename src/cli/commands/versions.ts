/** `agentgate versions register|list|show`: immutable, numbered versions of an agent. */
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { VERSION_KINDS, type VersionView } from "../../registry/schemas.js";
import type { List } from "../client.js";
import { collect, context, nonNegativeNumber, parseAgentArg, positiveInt } from "../context.js";
import { describeError, usageError } from "../errors.js";
import { compact, emit, pairs, print, printFields, printTable } from "../output.js";

type JsonObject = Record<string, unknown>;

type RegisterOptions = {
  kind?: string;
  upstream?: string;
  model?: string;
  systemPrompt?: string;
  promptMode?: string;
  promptFile?: string;
  params?: string;
  lineage?: string;
  trainingCost?: number;
  tag?: string[];
  fromFile?: string;
};

function asObject(value: unknown, what: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw usageError(`${what} must be a JSON object`);
  }
  return value as JsonObject;
}

export function parseJsonObject(text: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw usageError(`${what} is not valid JSON: ${describeError(err)}`);
  }
  return asObject(value, what);
}

function readJsonObject(file: string, what: string): JsonObject {
  let text: string;
  try {
    // `-` reads stdin, so a body can be piped in from another tool.
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw usageError(`cannot read ${what} '${file}': ${describeError(err)}`);
  }
  return parseJsonObject(text, `${what} '${file}'`);
}

export function parseTags(raw: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of raw) {
    const i = t.indexOf("=");
    if (i <= 0) throw usageError(`--tag must look like key=value, got '${t}'`);
    tags[t.slice(0, i)] = t.slice(i + 1);
  }
  return tags;
}

/**
 * The request body: `--from-file` first, then each flag on top, so a saved body can be reused
 * with one field changed. Prompt pieces and tags merge into what the file already has.
 */
export function buildVersionBody(o: RegisterOptions): JsonObject {
  const body: JsonObject = o.fromFile ? readJsonObject(o.fromFile, "--from-file") : {};
  if (o.kind !== undefined) body.kind = o.kind;
  if (o.upstream !== undefined) body.upstream = o.upstream;
  if (o.model !== undefined) body.model = o.model;

  if (o.promptFile !== undefined || o.systemPrompt !== undefined || o.promptMode !== undefined) {
    const prompt: JsonObject = {
      ...(body.prompt ? asObject(body.prompt, "prompt") : {}),
      ...(o.promptFile ? readJsonObject(o.promptFile, "--prompt-file") : {}),
    };
    if (o.systemPrompt !== undefined) prompt.system = o.systemPrompt;
    if (o.promptMode !== undefined) prompt.mode = o.promptMode;
    body.prompt = prompt;
  }
  if (o.params !== undefined) body.params = parseJsonObject(o.params, "--params");
  if (o.lineage !== undefined) body.lineage = parseJsonObject(o.lineage, "--lineage");
  if (o.trainingCost !== undefined) body.training_cost_usd = o.trainingCost;
  if (o.tag?.length) {
    body.tags = { ...(body.tags ? asObject(body.tags, "tags") : {}), ...parseTags(o.tag) };
  }

  const missing = ["kind", "upstream", "model"].filter((k) => body[k] === undefined);
  if (missing.length > 0) {
    throw usageError(
      `versions register needs ${missing.map((k) => `--${k}`).join(", ")} (as flags or in --from-file)`,
    );
  }
  return body;
}

function showVersion(v: VersionView): void {
  printFields([
    ["agent", `${v.system}/${v.agent}`],
    ["version", v.version],
    ["kind", v.kind],
    ["upstream", v.upstream],
    ["model", v.model],
    ["aliases", v.aliases.join(", ")],
    ["pinned", v.pinned ? "yes" : "no"],
    ["prompt", compact(v.prompt, 200)],
    ["params", compact(v.params, 200)],
    ["lineage", compact(v.lineage, 200)],
    ["training_cost_usd", v.training_cost_usd],
    ["pricing", compact(v.pricing, 200)],
    ["tags", pairs(v.tags)],
    ["created_by", v.created_by],
    ["created_at", v.created_at],
  ]);
}

export function registerVersions(program: Command): void {
  const versions = program.command("versions").description("numbered, immutable versions of an agent");

  versions
    .command("register")
    .description("register a new version (numbered 1, 2, 3... per agent; the first becomes champion)")
    .argument("<system/agent>", "agent reference")
    .addOption(new Option("--kind <kind>", "how the version was made").choices(VERSION_KINDS))
    .option("--upstream <name>", "upstream serving the model")
    .option("--model <model>", "model name at the upstream")
    .option("--system-prompt <text>", "system instructions")
    .addOption(
      new Option("--prompt-mode <mode>", "replace or prepend to the caller's system message").choices([
        "replace",
        "prepend",
      ]),
    )
    .option("--prompt-file <file>", "JSON prompt object {system?, mode?, demos?}; - reads stdin")
    .option("--params <json>", "generation parameters as a JSON object, e.g. '{\"temperature\":0.2}'")
    .option("--lineage <json>", "lineage as a JSON object (parent_version, dataset, base_model, ...)")
    .option("--training-cost <usd>", "training cost in USD", nonNegativeNumber("--training-cost"))
    .option("--tag <key=value>", "a tag; repeatable", collect)
    .option("--from-file <file>", "the whole request body as JSON (- reads stdin); flags override its fields")
    .action(async (raw: string, opts: RegisterOptions, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const body = buildVersionBody(opts);
      const { api, json } = context(cmd);
      const created = await api.post<VersionView>(`${ref.path}/versions`, body);
      emit(json, created, (v) => {
        print(`Registered ${ref.ref} version ${v.version} (${v.kind}, ${v.upstream}/${v.model}).`);
        showVersion(v);
      });
    });

  versions
    .command("list")
    .description("list an agent's versions")
    .argument("<system/agent>", "agent reference")
    .action(async (raw: string, _opts: unknown, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      const res = await api.get<List<VersionView>>(`${ref.path}/versions`);
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "VERSION", value: (v) => v.version },
            { header: "KIND", value: (v) => v.kind },
            { header: "UPSTREAM", value: (v) => v.upstream },
            { header: "MODEL", value: (v) => v.model },
            { header: "ALIASES", value: (v) => v.aliases.join(",") },
            { header: "PINNED", value: (v) => (v.pinned ? "yes" : "") },
            { header: "CREATED_BY", value: (v) => v.created_by },
            { header: "CREATED_AT", value: (v) => v.created_at },
          ],
          `No versions of '${ref.ref}'.`,
        ),
      );
    });

  versions
    .command("show")
    .description("show one version")
    .argument("<system/agent>", "agent reference")
    .argument("<n>", "version number", positiveInt("version"))
    .action(async (raw: string, n: number, _opts: unknown, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      emit(json, await api.get<VersionView>(`${ref.path}/versions/${n}`), showVersion);
    });
}
