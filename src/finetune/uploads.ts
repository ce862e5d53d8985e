/**
 * Training files uploaded through the OpenAI-compatible `POST /v1/files` (e.g. by DSPy's
 * BootstrapFinetune) become datasets, validated like exported ones: each line goes through the
 * dataset builder's checks (roles, order, empty or oversized messages, non-text content) with
 * the last assistant message as the answer, duplicates are dropped, the drop report is kept, and
 * at least 10 examples must remain. The stored file is the validated JSONL (what the trainer will
 * receive), with its SHA-256. Uploading the same bytes again returns the same dataset.
 */
import { createHash } from "node:crypto";
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { type DropReason, toExample } from "../datasets/build.js";
import { DEFAULT_MAX_TOKENS, MIN_EXAMPLES } from "../datasets/schemas.js";
import { AppError } from "../errors.js";

export type UploadedDataset = { id: number; name: string; bytes: number; created_at: Date; filename: string };

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** Keeps what the datasets table can show about an upload: where it came from. */
const uploadFilters = (filename: string, sha: string) => ({ uploaded_file: filename, uploaded_sha256: sha });

export async function datasetFromUpload(
  db: Knex,
  actor: Actor,
  filename: string,
  raw: Buffer,
): Promise<UploadedDataset> {
  const uploadedSha = sha256(raw);
  // The name is derived from the bytes: the same upload finds the dataset it made before.
  const name = `upload-${uploadedSha.slice(0, 16)}`;
  const existing = await db("datasets").where({ name }).first("id", "created_at");
  if (existing) {
    const f = await db("dataset_files").where({ dataset_id: existing.id }).first("bytes");
    return { id: existing.id, name, bytes: Number(f?.bytes ?? 0), created_at: existing.created_at, filename };
  }

  const dropped: Partial<Record<DropReason, number>> = {};
  const drop = (r: DropReason) => {
    dropped[r] = (dropped[r] ?? 0) + 1;
  };
  const seen = new Set<string>();
  const kept: { line: string; tokens: number }[] = [];
  let considered = 0;
  for (const text of raw.toString("utf8").split("\n")) {
    if (text.trim() === "") continue;
    considered++;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      drop("invalid_message");
      continue;
    }
    const messages = (row as { messages?: unknown })?.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      drop("invalid_message");
      continue;
    }
    const last = messages.at(-1) as { role?: unknown } | undefined;
    if (last?.role !== "assistant") {
      drop("empty_answer");
      continue;
    }
    const outcome = toExample(
      {
        messages: messages.slice(0, -1),
        tools: (row as { tools?: unknown }).tools ?? null,
        response: last,
        truncated: false,
        prompt: null,
      },
      { format: "openai", prompt: "client", maxTokens: DEFAULT_MAX_TOKENS, weightAssistant: false },
    );
    if (!outcome.ok) {
      drop(outcome.reason);
      continue;
    }
    if (seen.has(outcome.example.hash)) {
      drop("duplicate");
      continue;
    }
    seen.add(outcome.example.hash);
    kept.push({ line: outcome.example.line, tokens: outcome.example.tokens });
  }
  if (kept.length < MIN_EXAMPLES) {
    const why = Object.entries(dropped)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    throw new AppError(
      "insufficient_examples",
      `too few examples: at least ${MIN_EXAMPLES} are needed; the file has ${kept.length} valid examples of ${considered} lines (dropped: ${why || "none"})`,
      "file",
    );
  }
  const content = kept.map((k) => `${k.line}\n`).join("");
  const sha = sha256(content);
  const tokens = kept.map((k) => k.tokens);
  const total = tokens.reduce((a, b) => a + b, 0);
  const stats = {
    min: Math.min(...tokens),
    mean: Math.round((total / tokens.length) * 10) / 10,
    max: Math.max(...tokens),
    total,
  };
  const bytes = Buffer.byteLength(content);
  return db.transaction(async (trx) => {
    const [row] = await trx("datasets")
      .insert({
        name,
        format: "openai",
        mode: "global",
        agents: JSON.stringify([]),
        filters: JSON.stringify(uploadFilters(filename, uploadedSha)),
        options: JSON.stringify({
          prompt: "client",
          per_agent_cap: null,
          max_tokens_per_example: DEFAULT_MAX_TOKENS,
          weight_assistant: false,
        }),
        content_sha256: sha,
        examples: kept.length,
        considered,
        tokens: JSON.stringify(stats),
        dropped: JSON.stringify(dropped),
        created_by: actor.name,
      })
      .returning(["id", "created_at"]);
    await trx("dataset_files").insert({
      dataset_id: row.id,
      agent: "*",
      position: 0,
      sha256: sha,
      bytes,
      examples: kept.length,
      tokens: JSON.stringify(stats),
      dropped: JSON.stringify(dropped),
      content,
    });
    await recordAudit(trx, {
      actor: actor.name,
      action: "dataset.upload",
      objectType: "dataset",
      objectKey: name,
      after: { id: row.id, filename, examples: kept.length, considered, dropped, content_sha256: sha },
    });
    return { id: row.id, name, bytes, created_at: row.created_at, filename };
  });
}
