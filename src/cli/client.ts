/**
 * A small admin API client over the global fetch. It turns every failure into a `CliError` whose
 * message is the line the user sees: the server's own message and code, or why the server could
 * not be reached.
 */
import { networkReason as reasonOf } from "../network-errors.js";
import { CliError, usageError } from "./errors.js";

export const API_PREFIX = "/api/v1";
const REQUEST_TIMEOUT_MS = 30_000;
const DOWNLOAD_TIMEOUT_MS = 300_000;

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type Query = Record<string, string | number | undefined>;
/** The admin API's list envelope. */
export type List<T> = { data: T[] };

export type ClientOptions = { url: string; token: string };

/** Validates `--url` once, so a typo is a usage error rather than a confusing network failure. */
export function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usageError(`--url must be an http(s) URL, got '${raw}'`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw usageError(`--url must be an http(s) URL, got '${raw}'`);
  }
  // Keep any path prefix (agentgate behind a reverse proxy) but drop trailing slashes.
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

/** Encodes one path segment; names are validated by the server, but user input stays inert here. */
export const seg = (s: string | number) => encodeURIComponent(String(s));

export class ApiClient {
  readonly url: string;
  private readonly token: string;

  constructor(opts: ClientOptions) {
    this.url = normalizeBaseUrl(opts.url);
    this.token = opts.token;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }
  /** `timeoutMs` for calls that may run long on the server (an MLflow sync); default 30 s. */
  post<T>(path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    return this.request<T>("POST", path, body, undefined, opts.timeoutMs);
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("DELETE", path, body);
  }

  /** A file download: the raw bytes and the response headers; errors as for `request`. */
  async download(path: string, query?: Query): Promise<{ body: Buffer; headers: Headers }> {
    const target = new URL(`${this.url}${API_PREFIX}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) target.searchParams.set(k, String(v));
    }
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(target, {
        headers: { authorization: `Bearer ${this.token}` },
        signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
      });
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      throw new CliError(`cannot reach agentgate at ${this.url} (${networkReason(err)})`);
    }
    if (!res.ok) throw serverError(res, parseJson(body.toString("utf8")));
    return { body, headers: res.headers };
  }

  /** Resolves to the parsed JSON body, or `undefined` for 204 No Content. */
  async request<T>(
    method: Method,
    path: string,
    body?: unknown,
    query?: Query,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const target = new URL(`${this.url}${API_PREFIX}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) target.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      authorization: `Bearer ${this.token}`,
    };
    if (body !== undefined) headers["content-type"] = "application/json";

    let res: Response;
    let text: string;
    try {
      res = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new CliError(`cannot reach agentgate at ${this.url} (${networkReason(err, timeoutMs)})`);
    }
    const parsed = parseJson(text);
    if (!res.ok) throw serverError(res, parsed);
    if (res.status === 204 || text === "") return undefined as T;
    if (parsed === undefined) {
      throw new CliError(`agentgate at ${this.url} answered ${res.status} with a body that is not JSON`);
    }
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function serverError(res: Response, body: unknown): CliError {
  const e = (body as { error?: { message?: unknown; code?: unknown } } | undefined)?.error;
  if (e && typeof e.message === "string") {
    const code = typeof e.code === "string" ? e.code : String(res.status);
    return new CliError(`${e.message} (${code})`);
  }
  // Not our error envelope: most likely a proxy or another service on that address.
  return new CliError(`server answered ${res.status} ${res.statusText || ""}`.trimEnd());
}

function networkReason(err: unknown, timeoutMs = REQUEST_TIMEOUT_MS): string {
  if (err instanceof DOMException && err.name === "TimeoutError") {
    return `no answer within ${timeoutMs / 1000}s`;
  }
  return reasonOf(err);
}
