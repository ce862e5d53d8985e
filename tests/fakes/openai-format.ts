/**
 * The public chat-completions format as the fake upstream speaks it: a deterministic answer (the
 * content echoes the model and the last user message; a token is a whitespace-separated word), its
 * `chat.completion` JSON, and its `chat.completion.chunk` SSE events.
 */

export const CREATED = 1_700_000_000;

export type ChatRequest = {
  model?: unknown;
  messages: { role?: string; content?: unknown }[];
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
};

export type Answer = {
  id: string;
  model: string;
  pieces: string[];
  finishReason: "stop" | "length";
  usage: ReturnType<typeof usageOf>;
};

const words = (text: string) => text.split(/\s+/).filter((w) => w !== "");
const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.map((p) => (typeof p?.text === "string" ? p.text : "")).join(" ")
      : "";

export function buildAnswer(chat: ChatRequest, model: string, id: string, cached: number): Answer {
  const lastUser = [...chat.messages].reverse().find((m) => m.role === "user");
  let pieces = words(`Echo from ${model}: ${textOf(lastUser?.content)}`).map((w, i) =>
    i === 0 ? w : ` ${w}`,
  );
  const limit = Number(chat.max_completion_tokens ?? chat.max_tokens ?? Number.POSITIVE_INFINITY);
  const finishReason = pieces.length > limit ? "length" : "stop";
  if (pieces.length > limit) pieces = pieces.slice(0, limit);
  const prompt = chat.messages.reduce((n, m) => n + words(textOf(m.content)).length, 0);
  return { id, model, pieces, finishReason, usage: usageOf(prompt, pieces.length, cached) };
}

/** The same answer with `text` as its content; pieces keep their leading whitespace, so newlines survive. */
export function withContent(a: Answer, text: string): Answer {
  const pieces = text.match(/\s*\S+/g) ?? [];
  const cached = a.usage.prompt_tokens_details.cached_tokens;
  return { ...a, pieces, usage: usageOf(a.usage.prompt_tokens, pieces.length, cached) };
}

function usageOf(prompt: number, completion: number, cached: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: Math.min(cached, prompt), audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function completion(a: Answer) {
  return {
    id: a.id,
    object: "chat.completion",
    created: CREATED,
    model: a.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: a.pieces.join(""), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: a.finishReason,
      },
    ],
    usage: a.usage,
    service_tier: "default",
    system_fingerprint: "fp_fake",
  };
}

/** The SSE events of a streamed answer, each a complete `data: ...\n\n` block. */
export function streamEvents(a: Answer, includeUsage: boolean): string[] {
  const chunk = (delta: object, finish: string | null) => ({
    id: a.id,
    object: "chat.completion.chunk",
    created: CREATED,
    model: a.model,
    service_tier: "default",
    system_fingerprint: "fp_fake",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    // OpenAI adds `"usage": null` to every chunk when usage was asked for.
    ...(includeUsage ? { usage: null } : {}),
  });
  const events: object[] = [chunk({ role: "assistant", content: "", refusal: null }, null)];
  for (const p of a.pieces) events.push(chunk({ content: p }, null));
  events.push(chunk({}, a.finishReason));
  if (includeUsage) {
    const { choices: _c, ...head } = chunk({}, null);
    events.push({ ...head, choices: [], usage: a.usage });
  }
  return [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), "data: [DONE]\n\n"];
}
