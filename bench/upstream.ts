/**
 * A minimal zero-delay OpenAI-compatible upstream for the benchmark. Not the test fake
 * (tests/fakes/fake-upstream.ts): that one records every request, parses the JSON and builds each
 * answer, costs the bench does not want to measure (and an array that grows for the whole run).
 * This one drains the request, looks for two byte patterns, and writes answers built once at start:
 *   - `"stream":true` → `text/event-stream` with a role chunk, a few content chunks, a finish
 *     chunk, a usage chunk when the body asks for `"include_usage":true`, and `data: [DONE]`;
 *     chunks are written one per event-loop turn (setImmediate), so they leave as separate writes
 *     as a real model's stream does, with no timer delay;
 *   - otherwise a `chat.completion` JSON answer with usage.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { settleHttpObjectShapes } from "../src/http/object-shapes.js";

const CREATED = 1_700_000_000;
const MODEL = "gpt-4o-mini";
const PIECES = ["Your", " order", " #4821", " shipped", " on", " Monday;", " it", " arrives", " Thursday."];
const USAGE = {
  prompt_tokens: 61,
  completion_tokens: PIECES.length,
  total_tokens: 61 + PIECES.length,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};

const JSON_ANSWER = Buffer.from(
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: CREATED,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: PIECES.join(""), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: "stop",
      },
    ],
    usage: USAGE,
    service_tier: "default",
    system_fingerprint: "fp_bench",
  }),
);

function streamEvents(includeUsage: boolean): Buffer[] {
  const chunk = (delta: object, finish: string | null, extra: object = {}) => ({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: CREATED,
    model: MODEL,
    system_fingerprint: "fp_bench",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
    ...extra,
  });
  const events: object[] = [chunk({ role: "assistant", content: "" }, null)];
  for (const p of PIECES) events.push(chunk({ content: p }, null));
  events.push(chunk({}, "stop"));
  if (includeUsage) events.push({ ...chunk({}, null), choices: [], usage: USAGE });
  return [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), "data: [DONE]\n\n"].map((s) =>
    Buffer.from(s),
  );
}

const STREAM_PLAIN = streamEvents(false);
const STREAM_USAGE = streamEvents(true);
const JSON_HEADERS = { "content-type": "application/json", "content-length": String(JSON_ANSWER.length) };
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

/** Number of SSE events in a streamed answer without the usage chunk (for the bench's checks). */
export const STREAM_EVENT_COUNT = STREAM_PLAIN.length;

export async function startBenchUpstream(port = 0): Promise<{ url: string; server: Server }> {
  settleHttpObjectShapes();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      // Both the openai SDK and the gateway write compact JSON, so a byte search is enough here.
      if (body.includes('"stream":true')) {
        const events = body.includes('"include_usage":true') ? STREAM_USAGE : STREAM_PLAIN;
        res.writeHead(200, SSE_HEADERS);
        let i = 0;
        const next = () => {
          if (res.destroyed) return;
          const e = events[i++] as Buffer;
          if (i === events.length) res.end(e);
          else {
            res.write(e);
            setImmediate(next);
          }
        };
        next();
        return;
      }
      res.writeHead(200, JSON_HEADERS);
      res.end(JSON_ANSWER);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${bound}`, server };
}
