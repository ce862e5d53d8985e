/** JSON answers and OpenAI-shaped errors on the data plane's plain node:http handlers. */
import type { ServerResponse } from "node:http";
import { type AppError, errorBody } from "../errors.js";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: AppError): void {
  if (err.code === "missing_token" || err.code === "invalid_token")
    res.setHeader("www-authenticate", "Bearer");
  sendJson(res, err.status, errorBody(err));
}
