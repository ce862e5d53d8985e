/**
 * The data plane: `POST /v1/chat/completions` and `GET /v1/models`, served by a plain node:http
 * handler (Express stays on the admin API, off the hot path).
 *
 * One call: authorize → read and validate the body → resolve the route from the in-memory table
 * (pin > experiment arm > champion) → apply the version → call its upstream → on a fault before
 * anything reached the client, retry once on the champion if the route was experimental →
 * forward the answer (streams byte for byte through the usage tap) → record one event and the
 * metrics, whatever happened.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import { AppError, errorBody } from "../errors.js";
import type { EventRecorder } from "../events/recorder.js";
import type { Metrics } from "../metrics.js";
import { applyVersion, clientWantsStreamUsage } from "./apply-version.js";
import { CallRecord } from "./call-record.js";
import { CallSignal } from "./call-signal.js";
import { agentHeaderOf, authorizeProxy, parseChatBody, readBody, sessionOf } from "./chat-request.js";
import { type JsonSummary, JsonUsageTap } from "./json-usage.js";
import { costUsd, type PriceTable, resolvePrice } from "./pricing.js";
import { readChunks } from "./read-chunks.js";
import { newRequestId } from "./request-id.js";
import { agentOf, resolveRoute } from "./resolve.js";
import { sendError, sendJson } from "./respond.js";
import type { RoutingTable, UpstreamRoute, VersionRoute } from "./routing-table.js";
import { ClientClosedError, pumpSse } from "./sse-pump.js";
import { SseUsageTap } from "./sse-usage.js";
import {
  resolveApiKey,
  type UpstreamClient,
  type UpstreamResponse,
  type UpstreamTarget,
} from "./upstream-client.js";
import { classifyError, isFallbackEligible, toAppError, UpstreamError } from "./upstream-errors.js";
import { type VersionDirectory, versionAddress } from "./version-address.js";

export type DataPlaneDeps = {
  routing: { readonly current: RoutingTable };
  upstreams: UpstreamClient;
  prices: PriceTable;
  recorder: EventRecorder;
  metrics: Metrics;
  log: Logger;
  proxyAuth: boolean;
  /** SHA-256 hex of the bootstrap admin token, accepted on the data plane too. */
  bootstrapHash: string | undefined;
  maxBodyBytes: number;
  env?: NodeJS.ProcessEnv;
  /** Versions addressed as `agent:system/agent@n` (read on first use; see version-address.ts). */
  versions?: VersionDirectory;
  /** The OpenAI-compatible files + fine_tuning.jobs endpoints (src/finetune/openai-endpoint.ts). */
  fineTuning?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
};

/** Non-streamed answers up to this size are read whole before forwarding (see `forwardJson`). */
const JSON_HOLD_BYTES = 8 * 1024 * 1024;

export function createDataPlane(deps: DataPlaneDeps) {
  const env = deps.env ?? process.env;

  async function chat(req: IncomingMessage, res: ServerResponse, call: CallRecord): Promise<void> {
    const table = deps.routing.current;
    if (deps.proxyAuth) authorizeProxy(req, table, deps.bootstrapHash);
    const body = parseChatBody(await readBody(req, deps.maxBodyBytes));
    const named = agentOf(agentHeaderOf(req), body.model);
    if (!named) {
      throw new AppError(
        "invalid_request",
        "name the agent: send the 'X-Agent: system/agent' header or model 'agent:system/agent'",
        "model",
      );
    }
    // `system/agent@n` addresses one version; only then is the address parsed.
    const addressed = deps.versions && named.includes("@") ? versionAddress(named) : null;
    const ref = addressed?.ref ?? named;
    const stream = body.stream === true;
    const session = sessionOf(req);
    const user = typeof body.user === "string" ? body.user : null;
    call.identify(ref, { stream, session, user });
    const r =
      addressed && deps.versions
        ? await deps.versions.resolve(table, addressed.ref, addressed.version)
        : resolveRoute(table, ref, { session, user, requestId: call.requestId });
    call.resolved(r);
    if (r.agent.capture) call.willCapture(r.agent.capture, body);

    const upstreamBody = (v: VersionRoute) => JSON.stringify(applyVersion(body, v, { stream }));
    const abort = new CallSignal();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    // One attempt = the upstream call and, for a non-streamed answer, reading it whole (for a
    // stream, until its first bytes): any fault up to that point happened before a byte reached
    // the client, so a fallback is still possible. A failed attempt is reported here, once, and
    // rethrown as an UpstreamError.
    const attempt = async (v: VersionRoute): Promise<Answer> => {
      try {
        const up = await deps.upstreams.send({
          upstream: targetOf(v.upstream, resolveApiKey(v.upstream.apiKeyEnv, env)),
          path: "/chat/completions",
          body: upstreamBody(v),
          expect: stream ? "sse" : "json",
          signal: abort,
        });
        call.upstreamAnswered(v, up.startedAt);
        if (!stream) return await readJsonAnswer(up);
        await firstBytes(up);
        return { kind: "stream", up };
      } catch (err) {
        const ue = classifyError(err);
        call.upstreamFailed(ue);
        throw ue;
      }
    };

    let served = r.version;
    let answer: Answer;
    try {
      answer = await attempt(served);
    } catch (err) {
      const ue = err as UpstreamError;
      if (!r.fallback || !isFallbackEligible(ue) || abort.aborted) throw ue;
      served = r.fallback;
      call.fellBack(served);
      answer = await attempt(served);
    }
    if (answer.kind === "stream") await forwardStream(res, answer.up, call, !clientWantsStreamUsage(body));
    else await forwardJson(res, answer, call);
    call.priced(costUsd(call.usage, resolvePrice(deps.prices, served.model, served.pricing)?.price));
  }

  function models(req: IncomingMessage, res: ServerResponse): void {
    const table = deps.routing.current;
    if (deps.proxyAuth) authorizeProxy(req, table, deps.bootstrapHash);
    const created = Math.floor(table.builtAt / 1000);
    const data = [...table.agents.keys()]
      .sort()
      .map((ref) => ({ id: `agent:${ref}`, object: "model", created, owned_by: "agentgate" }));
    sendJson(res, 200, { object: "list", data });
  }

  /** The node:http request handler for everything under `/v1/`. */
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/v1/models" && req.method === "GET") {
      try {
        models(req, res);
      } catch (err) {
        sendError(res, err instanceof AppError ? err : new AppError("internal_error", "internal error"));
      }
      return;
    }
    if (deps.fineTuning && (path?.startsWith("/v1/files") || path?.startsWith("/v1/fine_tuning/"))) {
      await deps.fineTuning(req, res);
      return;
    }
    if (path !== "/v1/chat/completions" || req.method !== "POST") {
      req.resume();
      sendError(res, new AppError("route_not_found", `no route for ${req.method} ${path}`));
      return;
    }
    const call = new CallRecord(newRequestId(), deps.metrics);
    try {
      await chat(req, res, call);
    } catch (err) {
      const appErr = toClientError(err);
      if (appErr.code === "internal_error")
        deps.log.error({ err, requestId: call.requestId }, "data plane error");
      // A call cancelled because the client left has nobody to answer: `finish` records it as 499.
      if (err instanceof UpstreamError && err.errorClass === "aborted") return;
      if (!res.headersSent) sendError(res, appErr, call.responseHeaders());
      else if (!res.writableEnded) res.destroy();
      call.failed(appErr.status);
    } finally {
      deps.recorder.record(call.finish(res));
    }
  };
}

/**
 * The upstream as the client calls it, with its key: one object per upstream and key, not a
 * copy per call (the key is still read from the environment on every call).
 */
const targets = new WeakMap<UpstreamRoute, UpstreamTarget>();
function targetOf(u: UpstreamRoute, apiKey: string | null): UpstreamTarget {
  let t = targets.get(u);
  if (!t || t.apiKey !== apiKey) {
    t = { ...u, apiKey };
    targets.set(u, t);
  }
  return t;
}

/** The error the client gets; upstream failures were already recorded by the attempt. */
function toClientError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof UpstreamError) return toAppError(err);
  return new AppError("internal_error", "internal error");
}

/**
 * Streams pass through byte for byte (the tap only drops the usage chunk the client did not ask
 * for). A stream that breaks after it started cannot change its status any more, so the client
 * gets an OpenAI-style `error` event (the SDKs raise it) before the connection closes.
 */
async function forwardStream(
  res: ServerResponse,
  up: UpstreamResponse,
  call: CallRecord,
  stripUsage: boolean,
): Promise<void> {
  const tap = new SseUsageTap({ stripUsage, captureMaxChars: call.captureMaxChars });
  const headers = call.responseHeaders();
  headers.push("content-type", "text/event-stream", "cache-control", "no-cache", "connection", "keep-alive");
  res.writeHead(200, headers);
  let failure: UpstreamError | null = null;
  let clientLeft = false;
  try {
    await pumpSse(up.body, tap, res);
  } catch (err) {
    // The client going away is not the upstream's fault: the event records it as 499 `aborted`.
    clientLeft = err instanceof ClientClosedError || res.destroyed;
    if (!clientLeft) failure = up.classify(err, true);
  }
  call.upstreamDone();
  call.streamed(tap.summary);
  if (clientLeft) return;
  if (!failure && tap.summary.malformedEvents > 0)
    failure = new UpstreamError("malformed", "upstream stream carried an event that is not JSON");
  if (!failure && !tap.summary.done)
    failure = new UpstreamError("reset", "upstream stream ended before [DONE]");
  if (failure) {
    call.upstreamFailed(failure);
    if (!res.writableEnded && !res.destroyed) {
      const e = toAppError(failure);
      res.write(`data: ${JSON.stringify(errorBody(e))}\n\n`);
    }
    call.failed(502);
  }
  if (!res.writableEnded) res.end();
}

/**
 * Waits until a streamed answer's first bytes are buffered, without consuming them. Upstreams send
 * a stream's headers at once and its first event when the first token is ready; until that event
 * arrives nothing has gone to the client, so a first-byte timeout, a reset or an empty body still
 * becomes a clean 502/504 — or a fallback — instead of a 200 that breaks off.
 */
function firstBytes(up: UpstreamResponse): Promise<void> {
  const body = up.body;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: UpstreamError) => {
      settled = true;
      body.off("readable", onReadable);
      body.off("end", onEnd);
      body.off("close", onEnd);
      if (!err) return resolve();
      up.abandon();
      reject(err);
    };
    // `readable` with nothing buffered means the body ended.
    const onReadable = () => settle(body.readableLength > 0 ? undefined : emptyStream());
    const onEnd = () => settle(emptyStream());
    // Stays attached: an error before the forwarding pipeline is wired must not go unhandled (the
    // pipeline still sees it, as the stream is then errored).
    const onError = (err: unknown) => {
      if (!settled) settle(up.classify(err, false));
    };
    body.on("error", onError);
    body.on("end", onEnd);
    body.on("close", onEnd);
    body.on("readable", onReadable);
  });
}

const emptyStream = () => new UpstreamError("reset", "upstream stream ended before its first event");

type Answer =
  | { kind: "stream"; up: UpstreamResponse }
  /** `summary` is set when the whole body was read; otherwise the tap still has the rest to see. */
  | {
      kind: "json";
      up: UpstreamResponse;
      held: Buffer[];
      bytes: number;
      tap: JsonUsageTap;
      summary: JsonSummary | null;
    };

/**
 * Non-streamed answers are read before forwarding (up to a cap), so a truncated or malformed
 * answer becomes a clean 502 — or a fallback — instead of a 200 the client cannot parse. A chat
 * completion is small; past the cap the rest is passed through as it arrives.
 */
async function readJsonAnswer(up: UpstreamResponse): Promise<Answer> {
  const tap = new JsonUsageTap(JSON_HOLD_BYTES);
  const held: Buffer[] = [];
  let bytes = 0;
  let complete: boolean;
  try {
    complete = await readChunks(up.body, (chunk) => {
      tap.push(chunk);
      held.push(chunk);
      bytes += chunk.length;
      return bytes <= JSON_HOLD_BYTES;
    });
  } catch (err) {
    throw up.classify(err, bytes > 0);
  }
  // Past the cap the body stays paused, not consumed: forwardJson pipes the rest through.
  if (!complete) return { kind: "json", up, held, bytes, tap, summary: null };
  // Parse now, so a body that is not a chat completion can still fall back.
  const summary = tap.finish();
  if (summary.malformed) {
    throw new UpstreamError("malformed", "upstream answered with a body that is not a chat completion", {
      status: up.status,
    });
  }
  return { kind: "json", up, held, bytes, tap, summary };
}

async function forwardJson(
  res: ServerResponse,
  a: Extract<Answer, { kind: "json" }>,
  call: CallRecord,
): Promise<void> {
  if (a.summary) {
    call.upstreamDone();
    call.jsonAnswered(a.summary);
    const headers = call.responseHeaders();
    headers.push("content-type", "application/json", "content-length", String(a.bytes));
    res.writeHead(a.up.status, headers);
    res.end(a.held.length === 1 ? a.held[0] : Buffer.concat(a.held, a.bytes));
    return;
  }
  const headers = call.responseHeaders();
  headers.push("content-type", "application/json");
  res.writeHead(a.up.status, headers);
  for (const part of a.held) res.write(part);
  try {
    await pipeline(a.up.body, res);
  } finally {
    call.upstreamDone();
    call.jsonAnswered(a.tap.finish());
  }
}
