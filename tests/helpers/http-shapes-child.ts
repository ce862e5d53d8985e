/**
 * Child of tests/gateway/http-object-shapes.test.ts, run with `--allow-natives-syntax --expose-gc`:
 * a server takes six calls, a full garbage collection runs with none in flight, then it takes ten
 * more; prints, as JSON, whether each call's response object had fast (not dictionary) properties.
 *   plain    — a bare node:http server;
 *   settled  — the same after settleHttpObjectShapes();
 *   agentgate — agentgate's own server (embedded PGlite), its health endpoint.
 */

import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { settleHttpObjectShapes } from "../../src/http/object-shapes.js";

// V8's own check, reachable with --allow-natives-syntax (a Function, so no parser sees the `%`).
const hasFastProperties = new Function("o", "return %HasFastProperties(o)") as (o: object) => boolean;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const fast: boolean[] = [];
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
  if (event === "request") fast.push(hasFastProperties(args[1] as object));
  return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
} as typeof emit;

const mode = process.argv[2];
let url: string;
let close: () => Promise<void>;
if (mode === "agentgate") {
  const dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-shapes-"));
  const { loadConfig } = await import("../../src/config.js");
  const { startAgentgate } = await import("../../src/main.js");
  const ag = await startAgentgate(
    loadConfig({ PORT: "0", HOST: "127.0.0.1", AGENTGATE_DATA_DIR: dir, AGENTGATE_LOG_LEVEL: "error" }),
  );
  url = `${ag.url}/healthz`;
  close = async () => {
    await ag.close();
    rmSync(dir, { recursive: true, force: true });
  };
} else {
  if (mode === "settled") settleHttpObjectShapes();
  const server = http.createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  close = () => new Promise((r) => server.close(() => r()));
}

// undici's fetch: no node:http objects on the client side to share the server's constructors.
const call = async () => (await fetch(url)).text();
for (let i = 0; i < 6; i++) await call();
await new Promise((r) => setTimeout(r, 20));
gc();
for (let i = 0; i < 10; i++) await call();
await close();
console.log(JSON.stringify(fast));
