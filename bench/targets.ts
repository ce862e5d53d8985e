/**
 * What `npm run bench` measures: the request every target gets, the child processes (fake
 * upstream, bare proxy, gateways) and their clean-up, and each gateway's setup and checks.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SERVER_NODE_FLAGS } from "../src/node-flags.js";
import { opt } from "./knobs.js";
import type { Request } from "./load.js";
import { unpin } from "./pin.js";
import type { BenchDatabase } from "./postgres.js";
import { Proc } from "./procs.js";

export const TOKEN = randomBytes(24).toString("hex");
const chatBody = (stream: boolean) =>
  Buffer.from(
    JSON.stringify({
      model: "gpt-4o-mini",
      messages: [
        {
          role: "system",
          content:
            "You are the support coordinator of an online shop. Answer briefly and politely; ask for the order number when it is missing.",
        },
        { role: "user", content: "Hi! Where is my order #4821? It was supposed to arrive yesterday." },
      ],
      temperature: 0.2,
      max_tokens: 256,
      ...(stream ? { stream: true } : {}),
    }),
  );
export const HEADERS = {
  "content-type": "application/json",
  authorization: `Bearer ${TOKEN}`,
  "x-agent": "bench/chat",
};
export const JSON_REQ: Request = {
  path: "/v1/chat/completions",
  headers: HEADERS,
  body: chatBody(false),
  stream: false,
};
export const STREAM_REQ: Request = {
  path: "/v1/chat/completions",
  headers: HEADERS,
  body: chatBody(true),
  stream: true,
};

// ---------------------------------------------------------------------------------------------
// Processes and targets.

export type Target = {
  name: string;
  url: string;
  proc: Proc | null;
  db: BenchDatabase | null;
  gateway: boolean;
};

const tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-bench-"));
// Compiled children live inside the repository, so their imports find node_modules.
export const buildDir = path.resolve("node_modules", ".cache", `agentgate-bench-${process.pid}`);
/** The same for the checkout that BENCH_AB_TREE names. */
export const abBuildDir = opt.abTree
  ? path.resolve(opt.abTree, "node_modules", ".cache", `agentgate-bench-${process.pid}-ab`)
  : null;
export const procs: Proc[] = [];
export const dbs: BenchDatabase[] = [];
let cleaned = false;
export async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  // BENCH_PIN: PostgreSQL serves more than the bench; it gets all the CPUs back however the run ends.
  if (opt.pin) unpin([]);
  await Promise.allSettled(procs.map((p) => p.stop()));
  await Promise.allSettled(dbs.map((d) => d.drop()));
  for (const dir of [tmp, buildDir, ...(abBuildDir ? [abBuildDir] : [])]) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      console.error(`could not remove ${dir}: ${(err as Error).message}`);
    }
  }
}
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
process.once("SIGTERM", () => void cleanup().finally(() => process.exit(143)));

export async function api(base: string, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

export async function startGateway(
  name: string,
  upstreamUrl: string,
  db: BenchDatabase | null,
  discardEvents = false,
  /** Settings on top of the bench's own (BENCH_AB). */
  settings: Record<string, string> = {},
  /** The compiled child of another checkout (BENCH_AB_TREE). */
  script?: string,
): Promise<Target> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (
      !k.startsWith("AGENTGATE_") &&
      k !== "DATABASE_URL" &&
      k !== "PORT" &&
      k !== "HOST" &&
      k !== "BENCH_DISCARD_EVENTS"
    )
      env[k] = v;
  Object.assign(env, {
    PORT: "0",
    HOST: "127.0.0.1",
    AGENTGATE_DATA_DIR: path.join(tmp, name),
    AGENTGATE_ADMIN_TOKEN: TOKEN,
    AGENTGATE_LOG_LEVEL: "warn",
    ...(db ? { DATABASE_URL: db.url } : {}),
    ...(discardEvents ? { BENCH_DISCARD_EVENTS: "1" } : {}),
    ...(opt.eventFlushMs ? { AGENTGATE_EVENT_FLUSH_MS: opt.eventFlushMs } : {}),
    ...settings,
  });
  // Started as `agentgate serve` starts, with the server's Node flags, unless BENCH_AB compares
  // others: NODE_FLAGS on the command line (any V8 flag), or NODE_OPTIONS (which command-line
  // flags would override).
  const { NODE_FLAGS: flags, ...rest } = env;
  const execArgv =
    flags !== undefined
      ? flags.split(/\s+/).filter(Boolean)
      : settings.NODE_OPTIONS === undefined
        ? [...SERVER_NODE_FLAGS]
        : [];
  const proc = await Proc.start(name, ["gateway"], { env: rest, execArgv, script });
  procs.push(proc);
  await api(proc.url, "POST", "/api/v1/upstreams", { name: "bench-upstream", base_url: `${upstreamUrl}/v1` });
  await api(proc.url, "POST", "/api/v1/systems", { name: "bench", topology: "hierarchical" });
  await api(proc.url, "POST", "/api/v1/systems/bench/agents", { name: "chat" });
  await api(proc.url, "POST", "/api/v1/systems/bench/agents/chat/versions", {
    kind: "base_optimized",
    upstream: "bench-upstream",
    model: "gpt-4o-mini",
  });
  return { name, url: proc.url, proc, db, gateway: true };
}

/** One JSON and one streamed call, checked in full, before any measurement. */
export async function check(t: Target): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: HEADERS,
      body: JSON_REQ.body,
    });
    const text = await res.text();
    if (res.status === 200) {
      const j = JSON.parse(text) as { choices: { message: { content: string } }[]; usage: unknown };
      if (!j.choices[0]?.message.content || !j.usage) throw new Error(`${t.name}: unexpected answer ${text}`);
      if (t.gateway && res.headers.get("x-agentgate-version") !== "1")
        throw new Error(`${t.name}: no x-agentgate-version header`);
      break;
    }
    // The routing table picks the new version up within milliseconds; allow for a slow machine.
    if (!t.gateway || Date.now() > deadline) throw new Error(`${t.name}: status ${res.status} ${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: HEADERS,
    body: STREAM_REQ.body,
  });
  const text = await res.text();
  if (res.status !== 200 || !text.endsWith("data: [DONE]\n\n"))
    throw new Error(`${t.name}: bad stream ${text}`);
  // The gateway asks the upstream for usage and strips it, as the client did not ask for it.
  if (text.includes('"usage":{')) throw new Error(`${t.name}: usage chunk not stripped`);
}

export async function gatewayEvents(t: Target): Promise<string> {
  const text = await (
    await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  const value = (name: string) => {
    let sum = 0;
    for (const line of text.split("\n"))
      if (line.startsWith(name) && !line.startsWith("#")) sum += Number(line.split(" ").pop());
    return sum;
  };
  const requests = value("agentgate_requests_total{");
  return `${t.name}: ${requests} calls proxied, ${value("agentgate_events_written_total")} events written to the database, ${value("agentgate_events_spooled_total")} spooled, ${value("agentgate_events_dropped_total")} dropped, queue ${value("agentgate_events_queue_depth")} at the end`;
}
