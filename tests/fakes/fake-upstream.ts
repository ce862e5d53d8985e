/**
 * A fake OpenAI-compatible upstream on 127.0.0.1 (random port), speaking the public
 * chat-completions format: `POST /v1/chat/completions` as JSON or as SSE (`chat.completion.chunk`
 * events, a usage-only chunk when `stream_options.include_usage` is true, `data: [DONE]`) and
 * `GET /v1/models`. Answers are deterministic: the content echoes the model and the last user
 * message, and a token is a whitespace-separated word.
 *
 * Faults, chosen per request by header `x-fake-fault` or per model with `setFault` (model `*` for
 * all), with the delay in `x-fake-delay-ms` (or `delayMs`):
 *   <status> (e.g. 500, 503, 429, 400)  an OpenAI-shaped error body with that status
 *   reset            socket destroyed before any response byte
 *   malformed        200 whose JSON body (or one SSE event) is not valid JSON
 *   truncate         the body stops mid-way and the connection closes (no [DONE] on streams)
 *   slow             delay before the response headers
 *   slow-first-byte  headers at once, delay before the first body byte
 *   stall            streams: delay after the first two chunks
 *   html             200 with an HTML page instead of JSON
 * `x-fake-latency-ms` (or `latencyMs`) delays every answer's headers; `x-fake-chunk-delay-ms`
 * (or `chunkDelayMs`) spaces stream chunks; `x-fake-cached-tokens` sets cached prompt tokens.
 * `reply` replaces the echo with content of the test's choosing (e.g. DSPy's field format).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  buildAnswer,
  type ChatRequest,
  CREATED,
  completion,
  streamEvents,
  withContent,
} from "./openai-format.js";

export type FaultName =
  | `${number}`
  | "reset"
  | "malformed"
  | "truncate"
  | "slow"
  | "slow-first-byte"
  | "stall"
  | "html";

export type FaultSpec = {
  fault: FaultName;
  delayMs?: number;
  /** Apply to this many requests, then clear. */
  times?: number;
};

export type RecordedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  /** Client port of the connection: equal ports across requests mean a reused keep-alive socket. */
  remotePort: number;
};

export type FakeUpstream = {
  /** Base URL in OpenAI style, ending in `/v1`. */
  url: string;
  origin: string;
  requests: RecordedRequest[];
  setFault(model: string, spec: FaultSpec | null): void;
  close(): Promise<void>;
};

export type FakeOptions = {
  latencyMs?: number;
  chunkDelayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  models?: string[];
  /**
   * The assistant content for a request instead of the echo (`undefined` keeps the echo). Clients
   * that parse the answer, like DSPy's ChatAdapter, need their own format back.
   */
  reply?: (request: ChatRequest, model: string) => string | undefined;
};

export async function startFakeUpstream(opts: FakeOptions = {}): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const faults = new Map<string, FaultSpec>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let counter = 0;

  const sleep = (ms: number) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, ms);
          timers.add(t);
        });

  const pickFault = (req: IncomingMessage, model: string): { fault: string; delayMs: number } | null => {
    const delayHeader = Number(req.headers["x-fake-delay-ms"] ?? Number.NaN);
    const header = req.headers["x-fake-fault"];
    if (typeof header === "string" && header !== "") {
      return { fault: header, delayMs: Number.isFinite(delayHeader) ? delayHeader : 1000 };
    }
    const key = faults.has(model) ? model : faults.has("*") ? "*" : null;
    if (key === null) return null;
    const spec = faults.get(key) as FaultSpec;
    if (spec.times !== undefined) {
      if (spec.times <= 1) faults.delete(key);
      else faults.set(key, { ...spec, times: spec.times - 1 });
    }
    return {
      fault: spec.fault,
      delayMs: spec.delayMs ?? (Number.isFinite(delayHeader) ? delayHeader : 1000),
    };
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw === "" ? null : JSON.parse(raw);
    } catch {
      // keep the raw text
    }
    requests.push({
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      body,
      remotePort: req.socket.remotePort ?? 0,
    });
    const path = (req.url ?? "").split("?")[0];
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendError(res, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
    }
    if (req.method === "GET" && path === "/v1/models") {
      const data = (opts.models ?? ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]).map((id) => ({
        id,
        object: "model",
        created: CREATED,
        owned_by: "fake",
      }));
      return sendJson(res, 200, { object: "list", data });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return sendError(
        res,
        404,
        `Unknown request URL: ${req.method} ${path}.`,
        "invalid_request_error",
        "unknown_url",
      );
    }
    if (typeof body !== "object" || body === null || !Array.isArray((body as ChatRequest).messages)) {
      return sendError(
        res,
        400,
        "We could not parse the JSON body of your request.",
        "invalid_request_error",
        null,
      );
    }
    const chat = body as ChatRequest;
    const model = typeof chat.model === "string" ? chat.model : "unknown";
    const fault = pickFault(req, model);
    const latency = Number(req.headers["x-fake-latency-ms"] ?? opts.latencyMs ?? 0);
    await sleep(latency);
    if (fault?.fault === "slow") await sleep(fault.delayMs);
    if (fault && /^\d{3}$/.test(fault.fault)) return sendStatusFault(res, Number(fault.fault), model);
    if (fault?.fault === "reset") return void req.socket.destroy();
    if (fault?.fault === "html") {
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end("<html><body>Welcome to the captive portal</body></html>");
    }
    const echo = buildAnswer(
      chat,
      model,
      `chatcmpl-fake-${++counter}`,
      Number(req.headers["x-fake-cached-tokens"] ?? 0),
    );
    const custom = opts.reply?.(chat, model);
    const answer = custom === undefined ? echo : withContent(echo, custom);
    const chunkDelay = Number(req.headers["x-fake-chunk-delay-ms"] ?? opts.chunkDelayMs ?? 0);
    if (chat.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
      if (fault?.fault === "slow-first-byte") {
        res.flushHeaders();
        await sleep(fault.delayMs);
      }
      const events = streamEvents(answer, chat.stream_options?.include_usage === true);
      for (let i = 0; i < events.length; i++) {
        if (i > 0) await sleep(chunkDelay);
        if (fault?.fault === "stall" && i === 2) await sleep(fault.delayMs);
        if (res.destroyed) return;
        // end(), not destroy(): the chunks written so far must reach the client before the cut.
        if (fault?.fault === "truncate" && i === 3) return void req.socket.end();
        if (fault?.fault === "malformed" && i === 2) res.write('data: {"id": "broken", "choices": [\n\n');
        res.write(events[i]);
      }
      return void res.end();
    }
    const json = JSON.stringify(completion(answer));
    if (fault?.fault === "slow-first-byte") {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
      res.flushHeaders();
      await sleep(fault.delayMs);
      return void res.end(json);
    }
    if (fault?.fault === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(json.slice(0, Math.floor(json.length / 2)));
    }
    if (fault?.fault === "truncate") {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
      res.write(json.slice(0, Math.floor(json.length / 2)));
      return void req.socket.end();
    }
    return sendJson(res, 200, completion(answer));
  };
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/v1`,
    origin,
    requests,
    setFault(model, spec) {
      if (spec) faults.set(model, spec);
      else faults.delete(model);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null) {
  sendJson(res, status, { error: { message, type, param: null, code } });
}

export function sendStatusFault(res: ServerResponse, status: number, model: string) {
  if (status === 429) {
    res.setHeader("retry-after", "1");
    return sendError(
      res,
      429,
      `Rate limit reached for ${model} on requests per min (RPM): Limit 3, Used 3, Requested 1.`,
      "requests",
      "rate_limit_exceeded",
    );
  }
  if (status >= 500) {
    return sendError(
      res,
      status,
      "The server had an error while processing your request. Sorry about that!",
      "server_error",
      null,
    );
  }
  return sendError(res, status, `Fake client error ${status}.`, "invalid_request_error", null);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString("utf8");
}
