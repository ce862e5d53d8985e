/**
 * Token usage as OpenAI-compatible upstreams report it (`usage` of a chat completion, or of the
 * final chunk of a stream asked for with `stream_options.include_usage`). Upstreams differ in which
 * details they send, so only the three counts are required and the details are kept when present.
 */

export type Usage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Part of `prompt_tokens` served from the provider's prompt cache. */
  cached_tokens: number;
  /** Part of `completion_tokens` spent on hidden reasoning (o-series and similar models). */
  reasoning_tokens: number;
};

const count = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null;

const detail = (obj: unknown, key: string): number => {
  if (typeof obj !== "object" || obj === null) return 0;
  return count((obj as Record<string, unknown>)[key]) ?? 0;
};

/** A validated copy of an upstream `usage` object, or null when it is absent or unusable. */
export function parseUsage(raw: unknown): Usage | null {
  if (typeof raw !== "object" || raw === null) return null;
  const u = raw as Record<string, unknown>;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  if (prompt === null || completion === null) return null;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: count(u.total_tokens) ?? prompt + completion,
    // A cached count above the prompt count would make the uncached part negative; trust the total.
    cached_tokens: Math.min(detail(u.prompt_tokens_details, "cached_tokens"), prompt),
    reasoning_tokens: Math.min(detail(u.completion_tokens_details, "reasoning_tokens"), completion),
  };
}
