/**
 * The public shapes of OpenAI's files and fine-tuning jobs API as the fake trainer speaks them
 * (openai-node 6.x `resources/files.ts`, `resources/fine-tuning/jobs/jobs.ts`): file, job and
 * event objects, cursor pages, and the training file check done while `validating_files`.
 */
import { randomBytes } from "node:crypto";

export type TrainerError = { code: string; message: string; param: string | null };

export type UploadedFile = {
  id: string;
  filename: string;
  purpose: string;
  bytes: number;
  created_at: number;
  content: string;
};

export type Event = {
  object: "fine_tuning.job.event";
  id: string;
  created_at: number;
  level: "info" | "warn" | "error";
  message: string;
  type: "message" | "metrics";
  data: Record<string, unknown>;
};

export type FakeJob = {
  object: "fine_tuning.job";
  id: string;
  model: string;
  created_at: number;
  finished_at: number | null;
  fine_tuned_model: string | null;
  organization_id: string;
  result_files: string[];
  status: "validating_files" | "queued" | "running" | "succeeded" | "failed" | "cancelled";
  validation_file: string | null;
  training_file: string;
  hyperparameters: {
    n_epochs: number | "auto";
    batch_size: number | "auto";
    learning_rate_multiplier: number | "auto";
  };
  trained_tokens: number | null;
  error: TrainerError | null;
  seed: number;
  estimated_finish: number | null;
  integrations: null;
  metadata: Record<string, string> | null;
  method: { type: string; supervised?: { hyperparameters: Record<string, unknown> } };
  user_provided_suffix: string | null;
};

export const ORDER = ["validating_files", "queued", "running", "succeeded"] as const;
export const now = () => Math.floor(Date.now() / 1000);
export const rid = (n = 12) => randomBytes(n).toString("base64url").replace(/[-_]/g, "x").slice(0, n);

/** What OpenAI checks while `validating_files`: JSONL of `{"messages": [...]}`, at least 10 lines. */
export function checkFile(file: UploadedFile): TrainerError | null {
  const lines = file.content.split("\n").filter((l) => l.trim() !== "");
  for (const [i, line] of lines.entries()) {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      return {
        code: "invalid_training_file",
        message: `Invalid file format. Line ${i + 1} is not valid JSON.`,
        param: "training_file",
      };
    }
    const messages = (row as { messages?: unknown })?.messages;
    if (!Array.isArray(messages) || messages.length === 0)
      return {
        code: "invalid_training_file",
        message: `Invalid file format. Example ${i + 1} is missing key "messages".`,
        param: "training_file",
      };
  }
  if (lines.length < 10)
    return {
      code: "invalid_training_file",
      message: `Training file has ${lines.length} example(s), but must have at least 10 examples`,
      param: "training_file",
    };
  return null;
}

export function fileObject(f: UploadedFile) {
  return {
    id: f.id,
    object: "file",
    bytes: f.bytes,
    created_at: f.created_at,
    filename: f.filename,
    purpose: f.purpose,
    status: "processed",
    expires_at: null,
    status_details: null,
  };
}

/** OpenAI's cursor pages: newest first, `after` = the id of the last item already seen. */
export function page<T extends { id: string }>(items: T[], url: URL) {
  const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 20) || 20, 1), 100);
  const after = url.searchParams.get("after");
  const start = after ? items.findIndex((x) => x.id === after) + 1 : 0;
  const data = items.slice(start, start + limit);
  return { object: "list", data, has_more: start + limit < items.length };
}
