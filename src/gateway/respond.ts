/** JSON answers and OpenAI-shaped errors on the data plane's plain node:http handlers. */
import type { ServerResponse } from "node:http";
import { type AppError, errorBody } from "../errors.js";

/**
 * `headers` are extra [name, value, name, value...] pairs; the content headers are appended to that
 * array. Everything goes to one `writeHead` as a flat list: node:http then skips its per-response
 * header map (cheaper than `setHeader` calls).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: string[] = []): void {
  const text = JSON.stringify(body);
  headers.push("content-type", "application/json", "content-length", String(Buffer.byteLength(text)));
  res.writeHead(status, headers);
  res.end(text);
}

export function sendError(res: ServerResponse, err: AppError, headers: string[] = []): void {
  if (err.code === "missing_token" || err.code === "invalid_token")
    headers.push("www-authenticate", "Bearer");
  sendJson(res, err.status, errorBody(err), headers);
}
