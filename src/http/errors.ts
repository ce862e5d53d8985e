/**
 * The one error middleware. Our `AppError`s are rendered as they are; body-parser's errors become
 * their matching codes; anything else is logged with its stack and answered with a generic
 * message, so internals never leak.
 */
import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { AppError, errorBody } from "../errors.js";

type HttpError = Error & { type?: string; status?: number; expose?: boolean };

function classify(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  // The router could not percent-decode a path segment (e.g. `%E0%A4%A`).
  if (err instanceof URIError)
    return new AppError("invalid_request", "the request path is not valid percent-encoded UTF-8");
  const e = err as HttpError;
  switch (e?.type) {
    case "entity.parse.failed":
      return new AppError("invalid_json", "the request body is not valid JSON");
    case "entity.too.large":
      return new AppError("payload_too_large", "the request body is too large");
    case "encoding.unsupported":
    case "charset.unsupported":
      return new AppError("unsupported_media_type", "unsupported content encoding or charset");
  }
  if (e?.expose && typeof e.status === "number" && e.status >= 400 && e.status < 500) {
    return new AppError("invalid_request", "the request could not be read");
  }
  return null;
}

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const known = classify(err);
    const appErr = known ?? new AppError("internal_error", "internal error");
    if (!known) log.error({ err, method: req.method, path: req.path }, "unhandled error");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (appErr.code === "missing_token" || appErr.code === "invalid_token")
      res.setHeader("WWW-Authenticate", "Bearer");
    res.status(appErr.status).json(errorBody(appErr));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError("route_not_found", `no route for ${req.method} ${req.path}`));
};
