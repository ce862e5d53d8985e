/**
 * Calls OpenAI-compatible upstreams through undici: one keep-alive `Pool` per origin (and connect
 * timeout), reused by every call. Each call has three limits:
 *   - connect timeout (pool level): TCP + TLS;
 *   - first-byte timeout: until the response headers (undici `headersTimeout`), and also the
 *     longest silence between body chunks (`bodyTimeout`, overridable as `idleTimeoutMs`).
 *     undici runs these two on its coarse "fast timers" (resolution up to about 1 s), which is cheap
 *     per call and precise enough for timeouts counted in seconds;
 *   - total deadline: an AbortSignal that cuts the call, body included, when `timeoutMs` passes.
 * A successful response's body is returned as a stream, never read here. Error responses
 * (status ≥ 300) are read up to a small cap and thrown as `UpstreamError`s, so the proxy decides
 * on fallback before anything reached its client.
 *
 * The API key arrives already resolved (the caller reads the env var named on the upstream at call
 * time) and goes only into the Authorization header: it is never logged, stored or put in an error.
 */
import type { Readable } from "node:stream";
import { Pool } from "undici";
import { CallSignal, type CancelSignal, onAbort } from "./call-signal.js";
import type { UpstreamRoute } from "./routing-table.js";
import { classifyError, UpstreamError } from "./upstream-errors.js";

export type UpstreamTarget = Pick<
  UpstreamRoute,
  "name" | "baseUrl" | "timeoutMs" | "connectTimeoutMs" | "firstByteTimeoutMs"
> & {
  /** The resolved key (not the env var name); null sends no Authorization header. */
  apiKey: string | null;
  /** Longest silence between body chunks; defaults to `firstByteTimeoutMs`. */
  idleTimeoutMs?: number;
};

export type SendOptions = {
  upstream: UpstreamTarget;
  /** Path under the base URL's path, e.g. `/chat/completions` for base `https://host/v1`. */
  path: string;
  method?: "POST" | "GET";
  body?: Buffer | string;
  /** Extra request headers; hop-by-hop headers, Host and Authorization are dropped. */
  headers?: Record<string, string>;
  /** What a 2xx must be: `sse` wants text/event-stream, `json` wants a JSON content type. */
  expect?: "json" | "sse";
  /** The caller's cancellation (e.g. the client disconnected). */
  signal?: CancelSignal;
};

export type UpstreamResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The response body, streamed. */
  body: Readable;
  /** Gives up on the body (e.g. to fall back elsewhere) without an unhandled stream error. */
  abandon(): void;
  /** `performance.now()` when the call started and when the headers arrived. */
  startedAt: number;
  headersAt: number;
  /** Turns an error raised while reading `body` into an `UpstreamError`. */
  classify(err: unknown, bodyStarted: boolean): UpstreamError;
};

export type UpstreamClientOptions = {
  /** Most concurrent connections per origin; further calls queue in the pool. */
  connectionsPerOrigin?: number;
  keepAliveTimeoutMs?: number;
  /** Cap on the error body kept for an error response. */
  maxErrorBodyBytes?: number;
};

const DROPPED_HEADERS = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "content-length",
  "authorization",
]);

type Base = { origin: string; path: string };

const COMMON_HEADERS_MAX = 256;

export class UpstreamClient {
  private readonly pools = new Map<string, Pool>();
  private readonly bases = new Map<string, Base>();
  private readonly commonHeaders = new Map<string, Record<string, string>>();
  private readonly connections: number;
  private readonly keepAliveTimeout: number;
  private readonly maxErrorBody: number;

  constructor(opts: UpstreamClientOptions = {}) {
    this.connections = opts.connectionsPerOrigin ?? 256;
    this.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 10_000;
    this.maxErrorBody = opts.maxErrorBodyBytes ?? 64 * 1024;
  }

  /** Number of connection pools (one per origin and connect timeout). */
  get poolCount(): number {
    return this.pools.size;
  }

  async send(opts: SendOptions): Promise<UpstreamResponse> {
    const { upstream } = opts;
    const base = this.base(upstream.baseUrl);
    const pool = this.pool(base.origin, upstream.connectTimeoutMs);

    // One controller carries both the deadline and the caller's cancellation; the flags tell
    // the classifier which of the two fired.
    const ac = new CallSignal();
    let deadlineExpired = false;
    let callerAborted = false;
    const timer = setTimeout(() => {
      deadlineExpired = true;
      ac.abort(new UpstreamError("timeout_total", "upstream call exceeded its deadline"));
    }, upstream.timeoutMs);
    const onCallerAbort = () => {
      callerAborted = true;
      ac.abort(new UpstreamError("aborted", "upstream call cancelled by the caller"));
    };
    let unlisten: (() => void) | undefined;
    if (opts.signal?.aborted) onCallerAbort();
    else if (opts.signal) unlisten = onAbort(opts.signal, onCallerAbort);
    const cleanup = () => {
      clearTimeout(timer);
      unlisten?.();
    };
    const classify = (err: unknown, bodyStarted: boolean) =>
      classifyError(err, { deadlineExpired, callerAborted, bodyStarted });

    const startedAt = performance.now();
    let res: Awaited<ReturnType<Pool["request"]>>;
    try {
      res = await pool.request({
        method: opts.method ?? "POST",
        path: base.path + opts.path,
        headers: this.headers(opts),
        body: opts.body,
        signal: ac,
        headersTimeout: upstream.firstByteTimeoutMs,
        bodyTimeout: upstream.idleTimeoutMs ?? upstream.firstByteTimeoutMs,
      });
    } catch (err) {
      cleanup();
      throw classify(err, false);
    }
    const headersAt = performance.now();
    const body = res.body as unknown as Readable;
    // The deadline covers the body too, so the timer lives until the body is done with.
    body.once("close", cleanup);
    const status = res.statusCode;
    if (status >= 300) throw await this.errorResponse(status, res.headers, body, classify);
    const problem = contentTypeProblem(header(res.headers["content-type"]), opts.expect);
    const abandon = () => {
      // undici fails a destroyed body with an abort error; nobody is listening for it any more.
      body.on("error", () => {});
      body.destroy();
    };
    if (problem) {
      abandon();
      throw new UpstreamError("malformed", problem, { status });
    }
    return { status, headers: res.headers, body, abandon, startedAt, headersAt, classify };
  }

  /** Closes every pool, letting calls in flight finish. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Closes every pool at once, failing calls in flight. */
  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }

  private base(baseUrl: string): Base {
    let b = this.bases.get(baseUrl);
    if (!b) {
      const url = new URL(baseUrl);
      b = { origin: url.origin, path: url.pathname.replace(/\/+$/, "") };
      this.bases.set(baseUrl, b);
    }
    return b;
  }

  private pool(origin: string, connectTimeoutMs: number): Pool {
    const key = `${origin}|${connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.connections,
        keepAliveTimeout: this.keepAliveTimeout,
        connect: { timeout: connectTimeoutMs },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * The request headers. Without extra headers (the proxy's case) they depend only on the key,
   * the expected answer and whether there is a body, so those few objects are built once (undici
   * does not modify them).
   */
  private headers(opts: SendOptions): Record<string, string> {
    if (opts.headers) return this.buildHeaders(opts);
    const key = `${opts.expect ?? ""}\u0000${opts.body !== undefined}\u0000${opts.upstream.apiKey ?? ""}`;
    let h = this.commonHeaders.get(key);
    if (!h) {
      h = this.buildHeaders(opts);
      if (this.commonHeaders.size >= COMMON_HEADERS_MAX) this.commonHeaders.clear();
      this.commonHeaders.set(key, h);
    }
    return h;
  }

  private buildHeaders(opts: SendOptions): Record<string, string> {
    const out: Record<string, string> = {};
    if (opts.headers) {
      for (const [k, v] of Object.entries(opts.headers)) {
        const name = k.toLowerCase();
        if (!DROPPED_HEADERS.has(name)) out[name] = v;
      }
    }
    if (opts.body !== undefined && !out["content-type"]) out["content-type"] = "application/json";
    if (!out.accept) out.accept = opts.expect === "sse" ? "text/event-stream" : "application/json";
    if (opts.upstream.apiKey) out.authorization = `Bearer ${opts.upstream.apiKey}`;
    return out;
  }

  private async errorResponse(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Readable,
    classify: (err: unknown, bodyStarted: boolean) => UpstreamError,
  ): Promise<UpstreamError> {
    const errorClass = status >= 500 ? "upstream_5xx" : status >= 400 ? "upstream_4xx" : "malformed";
    let text: string | undefined;
    try {
      text = await readCapped(body, this.maxErrorBody);
    } catch (err) {
      // The status already tells what happened; a failure reading its explanation must not hide it.
      const cause = classify(err, true);
      return new UpstreamError(errorClass, `upstream answered status ${status}`, { status, cause });
    }
    let upstreamError: UpstreamError["upstreamError"] = null;
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed?.error === "object" && parsed.error !== null) {
        upstreamError = parsed.error as UpstreamError["upstreamError"];
      }
    } catch {
      // Not JSON (an HTML error page from a load balancer, say): keep the raw text only.
    }
    const retryAfter = header(headers["retry-after"]);
    return new UpstreamError(errorClass, `upstream answered status ${status}`, {
      status,
      upstreamError,
      body: text,
      ...(retryAfter ? { retryAfter } : {}),
    });
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function contentTypeProblem(
  contentType: string | undefined,
  expect: "json" | "sse" | undefined,
): string | null {
  // A missing content type is tolerated: some OpenAI-compatible servers omit it.
  if (!expect || !contentType) return null;
  const type = contentType.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  if (
    expect === "sse" ? type === "text/event-stream" : type === "application/json" || type.endsWith("+json")
  ) {
    return null;
  }
  return `upstream answered with content type '${type}' where ${expect === "sse" ? "an event stream" : "JSON"} was expected`;
}

/** Reads at most `max` bytes of `body` as text, then discards the rest. */
async function readCapped(body: Readable, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = max - size;
    if (room <= 0) break;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    parts.push(part);
    size += part.length;
  }
  // Breaking out of the loop destroys the body, which frees the connection's share of the call.
  return Buffer.concat(parts).toString("utf8");
}

/** The API key named on an upstream, read from the environment at call time. */
export function resolveApiKey(envName: string | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!envName) return null;
  const value = env[envName];
  return value === undefined || value === "" ? null : value;
}
