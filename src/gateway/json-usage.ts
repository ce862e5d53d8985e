/**
 * The non-streaming counterpart of the SSE tap: the proxy forwards the upstream's JSON body as it
 * arrives and hands each chunk here too; at the end the tap parses its copy for usage, model and
 * finish reason. The copy is capped (a chat completion is small; a body over the cap is forwarded
 * untouched and recorded without usage) so a huge or endless body cannot grow memory.
 */
import { parseUsage, type Usage } from "./usage.js";

export type JsonSummary = {
  usage: Usage | null;
  model: string | null;
  finishReason: string | null;
  /** The body was not a JSON object (truncated, HTML, garbage). */
  malformed: boolean;
  /** The body exceeded the cap and was not parsed. */
  tooLarge: boolean;
  /** The `error` object of an OpenAI-shaped error body, if any. */
  error: unknown;
  bytes: number;
  /** The first choice's message (already parsed; capture keeps it, nothing else reads it). */
  message: Record<string, unknown> | null;
};

const DEFAULT_MAX = 8 * 1024 * 1024;

export class JsonUsageTap {
  private parts: Buffer[] = [];
  private bytes = 0;
  private tooLarge = false;

  constructor(private readonly maxBytes = DEFAULT_MAX) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.tooLarge) return;
    if (this.bytes > this.maxBytes) {
      this.tooLarge = true;
      this.parts = [];
      return;
    }
    this.parts.push(chunk);
  }

  finish(): JsonSummary {
    if (this.tooLarge) return emptySummary(this.bytes, false, true);
    const parts = this.parts;
    const text = (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)).toString("utf8");
    this.parts = [];
    return summarizeCompletion(text, this.bytes);
  }
}

/** Usage, model and finish reason of a chat-completion JSON text of `bytes` bytes. */
export function summarizeCompletion(text: string, bytes: number): JsonSummary {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return emptySummary(bytes, true, false);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return emptySummary(bytes, true, false);
  const b = body as Record<string, unknown>;
  const first = Array.isArray(b.choices) ? (b.choices[0] as Record<string, unknown> | undefined) : undefined;
  // Every summary is built whole, with the same keys in the same order: on Node 20, spreading a
  // partial summary into a new object was a few µs per call (docs/benchmarks.md).
  return {
    usage: parseUsage(b.usage),
    model: typeof b.model === "string" ? b.model : null,
    finishReason: typeof first?.finish_reason === "string" ? first.finish_reason : null,
    malformed: false,
    error: b.error ?? null,
    message:
      typeof first?.message === "object" && first.message !== null
        ? (first.message as Record<string, unknown>)
        : null,
    tooLarge: false,
    bytes,
  };
}

const emptySummary = (bytes: number, malformed: boolean, tooLarge: boolean): JsonSummary => ({
  usage: null,
  model: null,
  finishReason: null,
  malformed,
  error: null,
  message: null,
  tooLarge,
  bytes,
});
