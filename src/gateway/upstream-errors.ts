/**
 * What can go wrong with an upstream call, as a closed set of classes the proxy maps to an HTTP
 * answer (502 or 504) and to a fallback decision, and the event records as `error_class`.
 * Messages never contain the API key, headers or the upstream URL (which may carry credentials).
 */
import { AppError } from "../errors.js";

export const UPSTREAM_ERROR_CLASSES = [
  /** DNS, refused, unreachable, TLS failure or connect timeout: nothing reached the upstream. */
  "connect_error",
  /** No response headers within the first-byte timeout, or no body byte after them. */
  "timeout_first_byte",
  /** The body started, then the upstream went silent longer than the idle timeout. */
  "timeout_idle",
  /** The overall deadline of the call passed. */
  "timeout_total",
  /** The connection closed or reset before the response was complete (truncated body too). */
  "reset",
  "upstream_5xx",
  "upstream_4xx",
  /** Not an OpenAI-compatible answer: invalid HTTP, wrong content type, body that is not JSON. */
  "malformed",
  /** The caller cancelled (the client went away); not the upstream's fault. */
  "aborted",
] as const;

export type UpstreamErrorClass = (typeof UPSTREAM_ERROR_CLASSES)[number];

export type UpstreamErrorDetails = {
  status?: number;
  /** The upstream's OpenAI-shaped `error` object, when its error body had one. */
  upstreamError?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } | null;
  /** Raw error body (capped), for bodies that are not OpenAI-shaped. */
  body?: string;
  retryAfter?: string;
  cause?: unknown;
};

export class UpstreamError extends Error {
  readonly status: number | undefined;
  readonly upstreamError: UpstreamErrorDetails["upstreamError"];
  readonly body: string | undefined;
  readonly retryAfter: string | undefined;

  constructor(
    readonly errorClass: UpstreamErrorClass,
    message: string,
    details: UpstreamErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "UpstreamError";
    this.status = details.status;
    this.upstreamError = details.upstreamError ?? null;
    this.body = details.body;
    this.retryAfter = details.retryAfter;
  }
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_DESTROYED",
  "UND_ERR_CLOSED",
]);
const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);
const RESET_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

function codeOf(err: unknown): string | undefined {
  // undici and Node put the code on the error itself, on its cause, or (for happy-eyeballs
  // connects) on each error of an AggregateError.
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === "object" && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length > 0) {
      const c = codeOf(inner[0]);
      if (c) return c;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export type ClassifyContext = {
  /** The call's own deadline fired. */
  deadlineExpired?: boolean;
  /** The caller's signal fired. */
  callerAborted?: boolean;
  /** At least one body byte had been received when the error happened. */
  bodyStarted?: boolean;
};

/** Maps any error thrown by undici or Node during a call to an `UpstreamError`. */
export function classifyError(err: unknown, ctx: ClassifyContext = {}): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (ctx.deadlineExpired)
    return new UpstreamError("timeout_total", "upstream call exceeded its deadline", { cause: err });
  if (ctx.callerAborted)
    return new UpstreamError("aborted", "upstream call cancelled by the caller", { cause: err });
  const code = codeOf(err) ?? "";
  if (code === "UND_ERR_HEADERS_TIMEOUT") {
    return new UpstreamError(
      "timeout_first_byte",
      "upstream sent no response within the first-byte timeout",
      {
        cause: err,
      },
    );
  }
  if (code === "UND_ERR_BODY_TIMEOUT") {
    return ctx.bodyStarted
      ? new UpstreamError("timeout_idle", "upstream stopped sending within the idle timeout", { cause: err })
      : new UpstreamError("timeout_first_byte", "upstream sent headers but no body within the timeout", {
          cause: err,
        });
  }
  if (CONNECT_CODES.has(code) || /^(ERR_TLS_|CERT_|ERR_SSL_)/.test(code) || TLS_CODES.has(code)) {
    return new UpstreamError("connect_error", `cannot connect to the upstream (${code})`, { cause: err });
  }
  if (RESET_CODES.has(code)) {
    return new UpstreamError(
      "reset",
      `upstream connection closed before the response was complete (${code})`,
      {
        cause: err,
      },
    );
  }
  if (code.startsWith("HPE_") || code === "UND_ERR_INFO" || code === "UND_ERR_HEADERS_OVERFLOW") {
    return new UpstreamError("malformed", `upstream sent an invalid HTTP response (${code})`, { cause: err });
  }
  // Anything else (an unexpected library error) is treated like a broken connection: it is retryable
  // on another version and answered 502, which is what the client should see.
  return new UpstreamError("reset", `upstream call failed${code ? ` (${code})` : ""}`, { cause: err });
}

/**
 * May the proxy retry this call on another version (the champion)? Only before the first byte
 * reached the client, which the proxy checks itself. Not for client cancellations, and not for
 * 400/413/422: the client's request is at fault and another model would reject it too. Other 4xx
 * (401 bad upstream key, 404 deleted fine-tune, 429 quota) are about this version's upstream, so
 * another version may well succeed.
 */
export function isFallbackEligible(err: UpstreamError): boolean {
  if (err.errorClass === "aborted") return false;
  if (err.errorClass === "upstream_4xx") return ![400, 413, 422].includes(err.status ?? 0);
  return true;
}

/** The error the client receives, in the one error vocabulary. */
export function toAppError(err: UpstreamError): AppError {
  switch (err.errorClass) {
    case "timeout_first_byte":
    case "timeout_idle":
    case "timeout_total":
      return new AppError("upstream_timeout", err.message);
    case "upstream_4xx": {
      const upstream = err.upstreamError;
      const detail = typeof upstream?.message === "string" ? upstream.message : `status ${err.status}`;
      const param = typeof upstream?.param === "string" ? upstream.param : null;
      // The client's own mistakes keep their status and the upstream's explanation. Problems with
      // the gateway's upstream account (401, 403, 404...) are the gateway's failure, and their
      // messages can quote a masked key or an internal model name, so they are not echoed.
      if (err.status === 400 || err.status === 422) return new AppError("invalid_request", detail, param);
      if (err.status === 413) return new AppError("payload_too_large", detail, param);
      if (err.status === 429)
        return new AppError("rate_limited", "the upstream provider is rate limiting this model");
      return new AppError("upstream_error", `upstream rejected the call with status ${err.status}`);
    }
    case "upstream_5xx":
      return new AppError("upstream_error", `upstream failed with status ${err.status}`);
    default:
      return new AppError("upstream_error", err.message);
  }
}
