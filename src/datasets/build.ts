/**
 * From one capture to one training example: the conversation, normalized, validated and written
 * in the dataset's format — or the reason it is dropped. Pure functions; the service reads the
 * captures and assembles the files.
 *
 * **Which conversation.** A capture holds the client's messages as sent. `prompt` chooses what the
 * example's input is:
 * - `served` (default): the conversation the upstream saw — the served version's prompt override
 *   (instructions, few-shot demos) re-applied exactly as the proxy applied it (versions are
 *   immutable). This is what the answer was produced from: distilling an optimized prompt into a
 *   fine-tune, the way DSPy's BootstrapFinetune formats its traces.
 * - `served_without_demos`: the same without the demos (DSPy's `exclude_demos=True`): the
 *   fine-tuned model learns the demos' behaviour instead of reading them.
 * - `client`: the client's messages only — for a fine-tuned version that will be served with no
 *   prompt override, so it is trained on exactly what it will be given.
 *
 * **Validation** (each failure is one drop reason, counted in the dataset's report):
 * `truncated` (the capture hit its byte cap), `invalid_message` (not a message object, or a tool
 * message without `tool_call_id`), `invalid_role` (roles other than system, developer — written as
 * system —, user, assistant, tool), `non_text_content` (image, audio or file parts),
 * `invalid_tool_call`, `bad_order` (system messages only at the start; the first other message
 * from the user; tool results only right after the assistant message that called them, answering
 * each of its calls; the answer right after a user or tool message), `empty_message` (an empty
 * input message), `empty_answer` (the answer has neither text nor tool calls), `oversized_message`
 * (one message over the token limit), `too_many_tokens` (the example over the token limit);
 * the service adds `duplicate` and `over_cap`.
 *
 * **Tokens** are estimated as ceil(characters / 4) over message contents, tool calls (names and
 * arguments) and tool definitions (their JSON): no tokenizer is model-independent, and the ratio is
 * OpenAI's rule of thumb for English text. Treat limits as approximate.
 *
 * **Formats.**
 * - `openai`: OpenAI chat fine-tuning JSONL, `{"messages": [...], "tools"?: [...]}`; assistant
 *   tool calls with `arguments` as a JSON string, tool results with `tool_call_id`. With
 *   `weight_assistant` (default) every assistant message carries `weight`: 1 on the final answer,
 *   0 on earlier ones (demos, previous turns), so only the answer is trained; without it no
 *   `weight` is written and OpenAI trains on every assistant message.
 * - `trl`: TRL's conversational formats (huggingface/trl `docs/source/dataset_formats.md`,
 *   `sft_trainer.md`). With `weight_assistant`: *prompt-completion*,
 *   `{"prompt": [...], "completion": [answer], "tools"?: [...]}` — SFTTrainer computes the loss on
 *   the completion only by default (`completion_only_loss`), TRL's counterpart of weight 0/1.
 *   Without it: *language modeling*, `{"messages": [...]}` (every assistant turn can be trained,
 *   e.g. with `assistant_only_loss`). Tool calls use TRL's shape (`arguments` as an object), tool
 *   results carry the function's `name`; `tools` is the column of JSON schemas TRL's tool-calling
 *   format expects.
 */
import { createHash } from "node:crypto";
import { applyVersion } from "../gateway/apply-version.js";
import type { PromptOverride, VersionRoute } from "../gateway/routing-table.js";

export const FORMATS = ["openai", "trl"] as const;
export const PROMPT_MODES = ["served", "served_without_demos", "client"] as const;
export type Format = (typeof FORMATS)[number];
export type PromptMode = (typeof PROMPT_MODES)[number];

export const DROP_REASONS = [
  "truncated",
  "invalid_message",
  "invalid_role",
  "non_text_content",
  "invalid_tool_call",
  "bad_order",
  "empty_message",
  "empty_answer",
  "oversized_message",
  "too_many_tokens",
  "duplicate",
  "over_cap",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type BuildOptions = {
  format: Format;
  prompt: PromptMode;
  maxTokens: number;
  weightAssistant: boolean;
};

/** A capture as read for export, with the prompt override of the version that answered. */
export type SourceCapture = {
  messages: unknown;
  tools: unknown;
  response: unknown;
  truncated: boolean;
  prompt: PromptOverride | null;
};

export type Example = {
  /** One JSONL line, without its newline. */
  line: string;
  /** SHA-256 of the normalized conversation (the de-duplication key). */
  hash: string;
  tokens: number;
};

export type Outcome = { ok: true; example: Example } | { ok: false; reason: DropReason };

type Role = "system" | "user" | "assistant" | "tool";
type ToolCall = { id: string; name: string; arguments: string };
type Msg = { role: Role; content: string | null; toolCalls: ToolCall[]; toolCallId: string | null };

class Drop extends Error {
  constructor(readonly reason: DropReason) {
    super(reason);
  }
}

const ROLES: Record<string, Role> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
  tool: "tool",
};

const estimate = (chars: number) => Math.ceil(chars / 4);

export function toExample(c: SourceCapture, o: BuildOptions): Outcome {
  try {
    return { ok: true, example: build(c, o) };
  } catch (err) {
    if (err instanceof Drop) return { ok: false, reason: err.reason };
    throw err;
  }
}

function build(c: SourceCapture, o: BuildOptions): Example {
  if (c.truncated) throw new Drop("truncated");
  if (!Array.isArray(c.messages)) throw new Drop("invalid_message");
  const input = inputMessages(c.messages, c.prompt, o.prompt).map((m) => normalize(m, false));
  const answer = normalize(c.response, true);
  if (answer.role !== "assistant") throw new Drop("invalid_message");
  if (!hasText(answer.content) && answer.toolCalls.length === 0) throw new Drop("empty_answer");
  checkOrder(input);
  for (const m of input) {
    if (m.role === "assistant" ? !hasText(m.content) && m.toolCalls.length === 0 : !hasText(m.content))
      throw new Drop("empty_message");
  }
  const tools = Array.isArray(c.tools) && c.tools.length > 0 ? c.tools : null;
  const all = [...input, answer];
  let total = tools ? JSON.stringify(tools).length : 0;
  for (const m of all) {
    const chars = messageChars(m);
    if (estimate(chars) > o.maxTokens) throw new Drop("oversized_message");
    total += chars;
  }
  const tokens = estimate(total);
  if (tokens > o.maxTokens) throw new Drop("too_many_tokens");
  const line = o.format === "openai" ? openaiLine(input, answer, tools, o) : trlLine(input, answer, tools, o);
  return { line, hash: conversationHash(all, tools), tokens };
}

/** The example's input: the client's messages, or the conversation as the served version sent it. */
function inputMessages(messages: unknown[], prompt: PromptOverride | null, mode: PromptMode): unknown[] {
  if (mode === "client" || !prompt) return messages;
  const applied = mode === "served_without_demos" ? { ...prompt, demos: [] } : prompt;
  // The proxy's own function, so the conversation is exactly what the upstream received.
  const version = { prompt: applied, params: null, model: "" } as unknown as VersionRoute;
  return applyVersion({ messages: messages as never }, version, { stream: false }).messages;
}

function normalize(raw: unknown, isAnswer: boolean): Msg {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Drop("invalid_message");
  const m = raw as Record<string, unknown>;
  if (typeof m.role !== "string") throw new Drop("invalid_message");
  const role = ROLES[m.role];
  if (!role) throw new Drop("invalid_role");
  const out: Msg = { role, content: text(m.content), toolCalls: [], toolCallId: null };
  if (role === "assistant" && m.tool_calls !== undefined && m.tool_calls !== null) {
    if (!Array.isArray(m.tool_calls)) throw new Drop("invalid_tool_call");
    out.toolCalls = m.tool_calls.map(toolCall);
  }
  if (role === "tool") {
    if (typeof m.tool_call_id !== "string" || m.tool_call_id === "") throw new Drop("invalid_message");
    out.toolCallId = m.tool_call_id;
  }
  if (isAnswer && role !== "assistant") throw new Drop("invalid_message");
  return out;
}

/** A message's text: a string, or the text parts of a content array joined by newlines. */
function text(content: unknown): string | null {
  if (content === null || content === undefined) return null;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw new Drop("invalid_message");
  const parts: string[] = [];
  for (const p of content) {
    if (typeof p !== "object" || p === null) throw new Drop("invalid_message");
    const part = p as Record<string, unknown>;
    if (part.type !== "text") throw new Drop("non_text_content");
    if (typeof part.text !== "string") throw new Drop("invalid_message");
    parts.push(part.text);
  }
  return parts.join("\n");
}

function toolCall(raw: unknown): ToolCall {
  if (typeof raw !== "object" || raw === null) throw new Drop("invalid_tool_call");
  const t = raw as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const fn = t.function;
  if ((t.type !== undefined && t.type !== "function") || typeof fn !== "object" || fn === null)
    throw new Drop("invalid_tool_call");
  if (typeof fn.name !== "string" || fn.name === "" || typeof fn.arguments !== "string")
    throw new Drop("invalid_tool_call");
  if (typeof t.id !== "string" || t.id === "") throw new Drop("invalid_tool_call");
  return { id: t.id, name: fn.name, arguments: fn.arguments };
}

const hasText = (s: string | null) => s !== null && s.trim() !== "";

function checkOrder(input: Msg[]): void {
  let seenOther = false;
  let pending: Set<string> | null = null;
  for (const [i, m] of input.entries()) {
    if (m.role === "system") {
      if (seenOther) throw new Drop("bad_order");
      continue;
    }
    if (!seenOther && m.role !== "user") throw new Drop("bad_order");
    seenOther = true;
    if (m.role === "tool") {
      if (!pending?.delete(m.toolCallId as string)) throw new Drop("bad_order");
      continue;
    }
    // Every call of the previous assistant message must have had its result by now.
    if (pending && pending.size > 0) throw new Drop("bad_order");
    pending = m.role === "assistant" && m.toolCalls.length > 0 ? new Set(m.toolCalls.map((t) => t.id)) : null;
    if (i === input.length - 1 && m.role !== "user") throw new Drop("bad_order");
  }
  if (!seenOther) throw new Drop("bad_order");
  if (pending && pending.size > 0) throw new Drop("bad_order");
}

const messageChars = (m: Msg) =>
  (m.content?.length ?? 0) + m.toolCalls.reduce((n, t) => n + t.name.length + t.arguments.length, 0);

function openaiMessage(m: Msg, weight: 0 | 1 | null): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role };
  if (m.content !== null || m.toolCalls.length === 0) out.content = m.content ?? "";
  if (m.role === "tool") out.tool_call_id = m.toolCallId;
  if (m.toolCalls.length > 0) {
    out.tool_calls = m.toolCalls.map((t) => ({
      id: t.id,
      type: "function",
      function: { name: t.name, arguments: t.arguments },
    }));
  }
  if (weight !== null) out.weight = weight;
  return out;
}

function openaiLine(input: Msg[], answer: Msg, tools: unknown[] | null, o: BuildOptions): string {
  const w = (final: boolean) => (o.weightAssistant ? (final ? 1 : 0) : null);
  const messages = [
    ...input.map((m) => openaiMessage(m, m.role === "assistant" ? w(false) : null)),
    openaiMessage(answer, w(true)),
  ];
  return JSON.stringify(tools ? { messages, tools } : { messages });
}

function trlMessage(m: Msg, callNames: Map<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content ?? "" };
  if (m.role === "tool") out.name = callNames.get(m.toolCallId as string) ?? "";
  if (m.toolCalls.length > 0) {
    out.tool_calls = m.toolCalls.map((t) => {
      let args: unknown;
      try {
        args = JSON.parse(t.arguments);
      } catch {
        throw new Drop("invalid_tool_call");
      }
      if (typeof args !== "object" || args === null || Array.isArray(args))
        throw new Drop("invalid_tool_call");
      return { type: "function", function: { name: t.name, arguments: args } };
    });
  }
  return out;
}

function trlLine(input: Msg[], answer: Msg, tools: unknown[] | null, o: BuildOptions): string {
  const callNames = new Map<string, string>();
  for (const m of input) for (const t of m.toolCalls) callNames.set(t.id, t.name);
  const prompt = input.map((m) => trlMessage(m, callNames));
  const completion = [trlMessage(answer, callNames)];
  const row: Record<string, unknown> = o.weightAssistant
    ? { prompt, completion }
    : { messages: [...prompt, ...completion] };
  if (tools) row.tools = tools;
  return JSON.stringify(row);
}

/** Content with whitespace runs collapsed and trimmed: formatting noise is not a new example. */
const squash = (s: string | null) => (s === null ? null : s.replace(/\s+/g, " ").trim());

function conversationHash(all: Msg[], tools: unknown[] | null): string {
  const normalized = all.map((m) => [
    m.role,
    squash(m.content),
    m.toolCalls.map((t) => [t.name, t.arguments]),
    m.toolCallId,
  ]);
  return createHash("sha256")
    .update(JSON.stringify([normalized, tools]))
    .digest("hex");
}
