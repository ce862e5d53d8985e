/**
 * The one error vocabulary. Services throw `AppError` with a stable code; the HTTP layer renders
 * every error, admin API and data plane alike, as the OpenAI-shaped envelope
 * `{"error": {"message", "type", "param", "code"}}`. Unknown errors never reach the client:
 * they are logged and answered with a generic `internal_error`.
 */

/** Each code maps to exactly one HTTP status and OpenAI error `type`. */
const CODES = {
  invalid_request: [400, "invalid_request_error"],
  invalid_json: [400, "invalid_request_error"],
  invalid_name: [400, "invalid_request_error"],
  missing_token: [401, "authentication_error"],
  invalid_token: [401, "authentication_error"],
  insufficient_scope: [403, "permission_error"],
  route_not_found: [404, "not_found_error"],
  system_not_found: [404, "not_found_error"],
  agent_not_found: [404, "not_found_error"],
  version_not_found: [404, "not_found_error"],
  alias_not_found: [404, "not_found_error"],
  pin_not_found: [404, "not_found_error"],
  upstream_not_found: [404, "not_found_error"],
  token_not_found: [404, "not_found_error"],
  request_not_found: [404, "not_found_error"],
  experiment_not_found: [404, "not_found_error"],
  metric_not_found: [404, "not_found_error"],
  session_not_found: [404, "not_found_error"],
  dataset_not_found: [404, "not_found_error"],
  fine_tune_not_found: [404, "not_found_error"],
  method_not_allowed: [405, "invalid_request_error"],
  already_exists: [409, "conflict_error"],
  in_use: [409, "conflict_error"],
  alias_protected: [409, "conflict_error"],
  no_rollback_target: [409, "conflict_error"],
  no_routable_version: [409, "conflict_error"],
  experiment_conflict: [409, "conflict_error"],
  invalid_state: [409, "conflict_error"],
  srm_detected: [409, "conflict_error"],
  mlflow_sync_running: [409, "conflict_error"],
  mlflow_not_configured: [409, "conflict_error"],
  idempotency_conflict: [409, "conflict_error"],
  payload_too_large: [413, "invalid_request_error"],
  unsupported_media_type: [415, "invalid_request_error"],
  insufficient_examples: [422, "invalid_request_error"],
  rate_limited: [429, "rate_limit_error"],
  internal_error: [500, "api_error"],
  upstream_error: [502, "upstream_error"],
  mlflow_unavailable: [502, "upstream_error"],
  service_unavailable: [503, "api_error"],
  upstream_timeout: [504, "upstream_error"],
  mlflow_timeout: [504, "upstream_error"],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof CODES;

export class AppError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "AppError";
    const [status, type] = CODES[code];
    this.status = status;
    this.type = type;
  }
}

export type ErrorBody = {
  error: { message: string; type: string; param: string | null; code: ErrorCode };
};

export function errorBody(err: AppError): ErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

export const notFound = (code: ErrorCode, what: string) => new AppError(code, `${what} not found`);

/** The SQLSTATE of a driver error (pg and PGlite both expose `code`), if there is one. */
export function sqlStateOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const UNIQUE_VIOLATION = "23505";

/**
 * Runs a creation; a unique violation (the name is taken, possibly by a concurrent request) becomes
 * `409 already_exists` naming the object, e.g. "system 'support' already exists".
 */
export async function uniqueName<T>(what: string, name: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (sqlStateOf(err) === UNIQUE_VIOLATION)
      throw new AppError("already_exists", `${what} '${name}' already exists`, "name");
    throw err;
  }
}
