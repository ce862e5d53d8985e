/**
 * The demo's simulated OpenAI-compatible provider: a small node:http server on 127.0.0.1 that
 * answers `POST …/v1/chat/completions` (JSON, or SSE chunks ending with a usage chunk when
 * `stream_options.include_usage` is set) and `GET …/v1/models`, for the models of the scenario.
 *
 * Models differ in quality, latency and output length (scenario.ts). Whether an answer is right is
 * a pure function of the model and the request's last user message (a hash), so the same question
 * to the same model gets the same verdict, as with a deterministic LLM at temperature 0; the
 * answer ends with `[grade: correct]` or `[grade: wrong]`, which stands for what a real evaluator
 * (a DSPy metric, a unit test, a human) would find. Any path prefix before `/v1` is accepted, so
 * two "providers" can share the server.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { ModelSpec } from "./scenario.js";

export type SimulatedUpstream = {
  /** `http://127.0.0.1:<port>` (append a prefix and `/v1` for a base URL). */
  origin: string;
  /** Calls answered, by outcome. */
  stats: { calls: number; errors: number };
  close(): Promise<void>;
};

export const GRADE_CORRECT = "[grade: correct]";
export const GRADE_WRONG = "[grade: wrong]";

type Message = { role?: unknown; content?: unknown };
type ChatBody = {
  model?: unknown;
  messages?: Message[];
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
};

/** A uniform number in [0, 1) from a hash of the parts: reproducible randomness. */
export function uniform(...parts: string[]): number {
  return createHash("sha256").update(parts.join("\u0000")).digest().readUInt32BE(0) / 2 ** 32;
}

const FILLER =
  "the analysis considers each relevant fact in turn weighs the alternatives and explains the reasoning behind the chosen answer".split(
    " ",
  );

const textOf = (content: unknown) => (typeof content === "string" ? content : JSON.stringify(content ?? ""));
/** Roughly what a tokenizer would count: four characters a token. */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

function answerFor(model: string, spec: ModelSpec, messages: Message[]) {
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  const key = textOf(lastUser?.content);
  const correct = uniform("quality", model, key) < spec.quality;
  // ±30% around the model's typical length; the words are filler, the grade is what matters.
  const n = Math.max(8, Math.round(spec.outputTokens * (0.7 + 0.6 * uniform("length", model, key))));
  const words = Array.from({ length: n - 4 }, (_, i) => FILLER[i % FILLER.length]);
  const content = `${words.join(" ")}. ${correct ? GRADE_CORRECT : GRADE_WRONG}`;
  const prompt = messages.reduce((sum, m) => sum + tokens(textOf(m.content)) + 4, 0);
  return {
    content,
    key,
    usage: { prompt_tokens: prompt, completion_tokens: n, total_tokens: prompt + n },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const openAiError = (message: string, type: string, code: string | null) => ({
  error: { message, type, param: null, code },
});

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startSimulatedUpstream(
  models: Map<string, ModelSpec>,
  opts: { apiKey: string },
): Promise<SimulatedUpstream> {
  const stats = { calls: 0, errors: 0 };
  const sockets = new Set<Socket>();
  let seq = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendJson(
        res,
        401,
        openAiError("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
      );
    }
    if (req.method === "GET" && path.endsWith("/v1/models")) {
      const data = [...models.keys()].map((id) => ({ id, object: "model", created: 0, owned_by: "demo" }));
      return sendJson(res, 200, { object: "list", data });
    }
    if (req.method !== "POST" || !path.endsWith("/v1/chat/completions")) {
      return sendJson(res, 404, openAiError(`Unknown path ${path}`, "invalid_request_error", "not_found"));
    }
    let body: ChatBody;
    try {
      body = JSON.parse(await readBody(req)) as ChatBody;
    } catch {
      return sendJson(res, 400, openAiError("The body is not valid JSON.", "invalid_request_error", null));
    }
    const model = String(body.model ?? "");
    const spec = models.get(model);
    if (!spec || !Array.isArray(body.messages)) {
      const message = spec ? "messages must be a list" : `The model '${model}' does not exist`;
      return sendJson(
        res,
        spec ? 400 : 404,
        openAiError(message, "invalid_request_error", "model_not_found"),
      );
    }
    const answer = answerFor(model, spec, body.messages);
    stats.calls++;
    // Latency varies ±50% per call around the model's typical value.
    const delay = spec.latencyMs * (0.5 + uniform("latency", model, answer.key, String(seq)));
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (spec.errorRate > 0 && uniform("error", model, answer.key) < spec.errorRate) {
      stats.errors++;
      return sendJson(
        res,
        503,
        openAiError("The server is overloaded; try again later.", "server_error", null),
      );
    }
    const id = `chatcmpl-demo${(++seq).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream === true) return stream(res, { id, created, model }, answer, body);
    sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: answer.content },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: answer.usage,
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent)
        sendJson(res, 500, openAiError("simulated upstream failed", "server_error", null));
      else res.destroy();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The answer as `chat.completion.chunk` events: role, the content in a few pieces, finish, usage. */
function stream(
  res: ServerResponse,
  head: { id: string; created: number; model: string },
  answer: ReturnType<typeof answerFor>,
  body: ChatBody,
) {
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (delta: object, finish: string | null) => ({
    ...head,
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const words = answer.content.split(" ");
  const size = Math.ceil(words.length / 4);
  const events: object[] = [chunk({ role: "assistant", content: "" }, null)];
  for (let i = 0; i < words.length; i += size) {
    events.push(chunk({ content: `${i === 0 ? "" : " "}${words.slice(i, i + size).join(" ")}` }, null));
  }
  events.push(chunk({}, "stop"));
  if (includeUsage)
    events.push({ ...head, object: "chat.completion.chunk", choices: [], usage: answer.usage });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
  res.end("data: [DONE]\n\n");
}
