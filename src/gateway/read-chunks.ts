/**
 * Reads a stream with plain `data`/`end` listeners. On the hot path this allocates less than
 * `for await` (no async iterator, no promise per chunk), and stopping early *pauses* the stream
 * instead of destroying it, so the rest can still be piped on.
 */
import type { Readable } from "node:stream";

/**
 * Calls `onChunk` for every chunk until the stream ends (resolves `true`) or `onChunk` returns
 * `false` (the stream is paused, its listeners removed; resolves `false`). Rejects on a stream
 * error.
 */
export function readChunks(
  stream: Readable,
  onChunk: (chunk: Buffer) => boolean | undefined,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      if (onChunk(chunk) === false) {
        stream.pause();
        cleanup();
        resolve(false);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(true);
    };
    const onError = (err: unknown) => {
      cleanup();
      reject(err);
    };
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onError);
  });
}
