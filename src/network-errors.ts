/**
 * Why a `fetch` failed, in a few words and without secrets: undici reports the system error
 * (ECONNREFUSED...) on `cause`, sometimes nested in an AggregateError (one per address tried).
 */

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed",
};

export function networkReason(err: unknown): string {
  let cause: unknown = (err as { cause?: unknown })?.cause ?? err;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code = (cause as { code?: unknown })?.code;
  if (typeof code === "string") return REASONS[code] ?? code;
  const message = (cause as { message?: unknown })?.message;
  return typeof message === "string" && message ? message : "network error";
}
