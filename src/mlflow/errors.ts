/**
 * Errors of the MLflow REST client. MLflow answers `{"error_code", "message"}`; the code, not the
 * HTTP status, says what happened (`RESOURCE_ALREADY_EXISTS` comes back as 400, not 409). Proxies
 * and auth layers in front of MLflow may answer without that body: the code is then derived from
 * the status, as MLflow's own Python client does.
 */

/** MLflow's error codes (`mlflow/protos/databricks.proto`), the ones a registry client meets. */
export type MlflowErrorCode =
  | "INVALID_PARAMETER_VALUE"
  | "BAD_REQUEST"
  | "RESOURCE_ALREADY_EXISTS"
  | "RESOURCE_DOES_NOT_EXIST"
  | "ENDPOINT_NOT_FOUND"
  | "NOT_FOUND"
  | "RESOURCE_CONFLICT"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "REQUEST_LIMIT_EXCEEDED"
  | "INTERNAL_ERROR"
  | "NOT_IMPLEMENTED"
  | "TEMPORARILY_UNAVAILABLE"
  | "DEADLINE_EXCEEDED"
  | (string & {});

/** `HTTP_STATUS_TO_ERROR_CODE` of `mlflow/exceptions.py`, for error answers that are not MLflow's JSON. */
const STATUS_CODES: Record<number, MlflowErrorCode> = {
  400: "BAD_REQUEST",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "ENDPOINT_NOT_FOUND",
  409: "RESOURCE_CONFLICT",
  429: "REQUEST_LIMIT_EXCEEDED",
  500: "INTERNAL_ERROR",
  501: "NOT_IMPLEMENTED",
  503: "TEMPORARILY_UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

export function codeForStatus(status: number): MlflowErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST");
}

/** MLflow (or something in front of it) answered with an error. */
export class MlflowApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: MlflowErrorCode,
    message: string,
    /** `METHOD path` of the call, for messages and logs. */
    readonly operation: string,
  ) {
    super(message);
    this.name = "MlflowApiError";
  }

  get notFound(): boolean {
    return this.errorCode === "RESOURCE_DOES_NOT_EXIST";
  }
  get alreadyExists(): boolean {
    return this.errorCode === "RESOURCE_ALREADY_EXISTS";
  }
  get invalidParameter(): boolean {
    return this.errorCode === "INVALID_PARAMETER_VALUE";
  }
  /** The credentials were refused: every further call would fail the same way. */
  get unauthorized(): boolean {
    return this.errorCode === "UNAUTHENTICATED" || this.errorCode === "PERMISSION_DENIED";
  }
}

/** MLflow could not be reached, or did not answer within the timeout. */
export class MlflowUnavailableError extends Error {
  constructor(
    readonly reason: "unreachable" | "timeout",
    message: string,
  ) {
    super(message);
    this.name = "MlflowUnavailableError";
  }
}

/** A call the client refuses to send: MLflow would reject it, or it cannot be expressed. */
export class MlflowClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MlflowClientError";
  }
}

export const isMlflowNotFound = (err: unknown): boolean => err instanceof MlflowApiError && err.notFound;
export const isMlflowAlreadyExists = (err: unknown): boolean =>
  err instanceof MlflowApiError && err.alreadyExists;

/** An error about one object (MLflow refused it), as opposed to one that would recur on every call. */
export function isObjectError(err: unknown): err is MlflowApiError | MlflowClientError {
  return err instanceof MlflowClientError || (err instanceof MlflowApiError && !err.unauthorized);
}

export function describeObjectError(err: MlflowApiError | MlflowClientError): string {
  return err instanceof MlflowApiError ? `${err.errorCode}: ${err.message}` : err.message;
}
