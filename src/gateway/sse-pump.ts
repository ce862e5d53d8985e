/**
 * Forwards an upstream event stream to the client through the usage tap, with backpressure, using
 * plain listeners. `stream.pipeline` does the same job but, on Node 20, costs 30–50 µs per stream
 * on the hot path (it creates and aborts an internal AbortController — a DOMException with a stack
 * trace — and raises a premature-close error internally when it finishes; see docs/benchmarks.md).
 */
import type { Readable, Writable } from "node:stream";
import type { SseUsageTap } from "./sse-usage.js";

/** Raised when the client went away before the stream was over. */
export class ClientClosedError extends Error {
  readonly code = "ERR_STREAM_PREMATURE_CLOSE";
  constructor() {
    super("the client closed the connection before the stream ended");
  }
}

/**
 * Resolves when the upstream body ended and everything the tap let through was handed to `res`
 * (which is not ended: the caller may still append an error event). Rejects with the body's error,
 * or a `ClientClosedError` when `res` closed first; either way the body is destroyed.
 */
export function pumpSse(body: Readable, tap: SseUsageTap, res: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      res.off("drain", onDrain);
      res.off("close", onClose);
      if (err === undefined) return resolve();
      // Nobody reads the body any more; a late error from it must not go unhandled.
      body.on("error", () => {});
      body.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      const out = tap.push(chunk);
      if (out && !res.write(out)) body.pause();
    };
    const onDrain = () => body.resume();
    const onEnd = () => {
      const rest = tap.end();
      if (rest) res.write(rest);
      settle();
    };
    const onError = (err: unknown) => settle(err);
    const onClose = () => settle(new ClientClosedError());
    if (res.destroyed) return settle(new ClientClosedError());
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    res.on("drain", onDrain);
    res.once("close", onClose);
    body.resume();
  });
}
