/**
 * Answers in DSPy's ChatAdapter format, for the fake upstream's `reply` hook. DSPy ends its last
 * user message with "Respond with the corresponding output fields, starting with the field
 * `[[ ## plan ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`." and parses the
 * answer back by those headers; an answer it cannot parse makes it retry with its JSON adapter,
 * which would add calls the tests did not make.
 */
import type { ChatRequest } from "./openai-format.js";

const FIELD = /`\[\[ ## (\w+) ## \]\]`/g;

/** Value of one output field; by default it names the model, so the caller can see who answered. */
export type FieldValue = (field: string, model: string, request: ChatRequest) => string;

const defaultValue: FieldValue = (field, model) => `${field} by ${model}`;

/** The ChatAdapter answer for a DSPy request, or `undefined` for any other request. */
export function dspyChatAdapterReply(
  request: ChatRequest,
  model: string,
  value: FieldValue = defaultValue,
): string | undefined {
  const last = request.messages.at(-1);
  if (last?.role !== "user" || typeof last.content !== "string") return undefined;
  const fields = [...last.content.matchAll(FIELD)]
    .map((m) => m[1] as string)
    .filter((f) => f !== "completed");
  if (fields.length === 0) return undefined;
  const body = fields.map((f) => `[[ ## ${f} ## ]]\n${value(f, model, request)}`).join("\n\n");
  return `${body}\n\n[[ ## completed ## ]]`;
}
