/**
 * The baseline: the least a Node pass-through proxy does. A node:http server that reads each
 * request body, forwards it (method, path, content type) to the upstream through one undici Pool —
 * same pool size and keep-alive as the gateway's upstream client — and pipes the answer back
 * (status, content type and length, body as it arrives, with `.pipe()`). No auth, no parsing, no routing, no
 * events, no metrics: the difference to the gateway is the gateway's own cost.
 * The body is read whole before forwarding because that is cheaper than handing undici the request
 * stream (about 25% less CPU per call here), and a baseline should be the cheap way. It settles
 * node:http's object layout before serving as the gateway does (src/http/object-shapes.ts): a
 * baseline left to turn its responses into dictionaries at random would flatter the gateway.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { settleHttpObjectShapes } from "../src/http/object-shapes.js";

export async function startBareProxy(
  upstreamOrigin: string,
  port = 0,
): Promise<{ url: string; server: Server; pool: Pool }> {
  const pool = new Pool(upstreamOrigin, { connections: 256, keepAliveTimeout: 10_000 });
  settleHttpObjectShapes();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => forward(req, res, parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)));
  });
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const headers: IncomingHttpHeaders = {};
    if (req.headers["content-type"]) headers["content-type"] = req.headers["content-type"];
    pool
      .request({
        method: req.method as "POST",
        path: req.url ?? "/",
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? null : body,
      })
      .then(
        (up) => {
          const out: Record<string, string> = {};
          const type = up.headers["content-type"];
          const length = up.headers["content-length"];
          if (typeof type === "string") out["content-type"] = type;
          if (typeof length === "string") out["content-length"] = length;
          res.writeHead(up.statusCode, out);
          // .pipe(), not stream.pipeline(): pipeline aborts an internal AbortController when it
          // finishes, and the DOMException that creates costs ~10 µs per call on Node 20.
          up.body.on("error", () => res.destroy());
          res.on("close", () => {
            if (!res.writableFinished) up.body.destroy();
          });
          up.body.pipe(res);
        },
        () => {
          if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
          res.end('{"error":{"message":"upstream failed","type":"bad_gateway"}}');
        },
      );
  };
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${bound}`, server, pool };
}
