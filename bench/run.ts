/**
 * `npm run bench`: the gateway against a bare Node pass-through proxy (undici) and direct calls,
 * same zero-delay fake upstream, same run, targets alternating. See docs/benchmarks.md.
 *
 * Processes: this one (the load generator), the fake upstream, the bare proxy and each gateway
 * (embedded PGlite; and PostgreSQL when reachable), each in its own child, so CPU time is read per
 * process. Phases, repeated for every round, each target in turn (the order rotates per round):
 *   1. closed loop, C connections, S seconds          → throughput, latency under saturation
 *   2. open loop, R req/s evenly paced                → p50/p99/max from the scheduled send time,
 *                                                       CPU time per request of each process
 *   3. streaming closed loop, C connections           → streams/s, time to first byte
 * Medians over the rounds are reported; the targets of DESIGN.md are checked on per-round pairs
 * (gateway vs bare proxy in the same round). The bench reports; it never fails the build.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ClosedResult, closedLoop, loadPool, type OpenResult, openLoop, type Request } from "./load.js";
import { type BenchDatabase, createBenchDatabase, pgAdminUrl, pgReachable } from "./postgres.js";
import { buildChildren, machineBusyUs, Proc, procCpuUs } from "./procs.js";
import { summarizeHeapProfile, summarizeProfile } from "./profile.js";

// ---------------------------------------------------------------------------------------------
// Knobs: environment variables, or the same names as flags (`npm run bench -- --rounds=5`).

const KNOBS = {
  BENCH_SECONDS: ["4", "closed-loop (throughput) phase length, seconds"],
  BENCH_RATE: ["1000", "open-loop arrival rate, requests per second"],
  BENCH_RATE_SECONDS: ["6", "open-loop phase length, seconds"],
  BENCH_STREAM_SECONDS: ["4", "streaming phase length, seconds"],
  BENCH_CONNECTIONS: ["64", "closed-loop concurrency (connections)"],
  BENCH_STREAM_CONNECTIONS: ["64", "streaming concurrency (connections)"],
  BENCH_ROUNDS: ["3", "rounds; each runs every phase on every target"],
  BENCH_WARMUP_SECONDS: ["3", "warm-up per target before the rounds, seconds"],
  BENCH_PHASES: ["closed,open,stream", "phases to run, comma-separated: closed, open, stream"],
  BENCH_STORAGE: ["auto", "gateway storage: pglite | postgres | both | auto (both when PostgreSQL answers)"],
  BENCH_PG_URL: [
    "",
    "PostgreSQL admin URL (default AGENTGATE_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres)",
  ],
  BENCH_PROFILE: [
    "",
    "1: CPU-profile the proxies during the rounds and print the top costs (slows them); heap: sample their allocations instead",
  ],
  BENCH_QUIET: [
    "",
    "before each run, wait (up to 60 s) until other processes use less than this many cores, e.g. 0.2",
  ],
  BENCH_EVENT_FLUSH_MS: ["", "the gateways' AGENTGATE_EVENT_FLUSH_MS (default: the storage's own)"],
  BENCH_DIAG: ["", "1: add target gateway-noev (PGlite, every event discarded) to show what recording costs"],
  BENCH_JSON: ["", "write every raw result to this JSON file"],
} as const;
type Knob = keyof typeof KNOBS;

for (const arg of process.argv.slice(2)) {
  if (arg === "--help" || arg === "-h") {
    console.log("npm run bench [-- --knob=value ...]   (or BENCH_KNOB=value npm run bench)\n");
    for (const [k, [def, help]] of Object.entries(KNOBS))
      console.log(
        `  ${`--${k.slice(6).toLowerCase().replace(/_/g, "-")}`.padEnd(20)} ${k.padEnd(25)} ${help}${def ? ` [${def}]` : ""}`,
      );
    process.exit(0);
  }
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
  const key = m ? `BENCH_${(m[1] as string).toUpperCase().replace(/-/g, "_")}` : "";
  if (!m || !(key in KNOBS)) {
    console.error(`unknown argument '${arg}' (see --help)`);
    process.exit(2);
  }
  process.env[key] = m[2] ?? "1";
}
const knob = (k: Knob): string => process.env[k] ?? KNOBS[k][0];
const num = (k: Knob): number => {
  const v = Number(knob(k));
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${k} must be a positive number`);
    process.exit(2);
  }
  return v;
};
const opt = {
  seconds: num("BENCH_SECONDS"),
  rate: num("BENCH_RATE"),
  rateSeconds: num("BENCH_RATE_SECONDS"),
  streamSeconds: num("BENCH_STREAM_SECONDS"),
  connections: Math.round(num("BENCH_CONNECTIONS")),
  streamConnections: Math.round(num("BENCH_STREAM_CONNECTIONS")),
  rounds: Math.round(num("BENCH_ROUNDS")),
  warmup: Number(knob("BENCH_WARMUP_SECONDS")) || 0,
  db: knob("BENCH_STORAGE"),
  phases: new Set(
    knob("BENCH_PHASES")
      .split(",")
      .map((p) => p.trim()),
  ),
  profile: knob("BENCH_PROFILE") === "1" || knob("BENCH_PROFILE") === "heap",
  heapProfile: knob("BENCH_PROFILE") === "heap",
  json: knob("BENCH_JSON"),
  diag: knob("BENCH_DIAG") === "1",
  eventFlushMs: knob("BENCH_EVENT_FLUSH_MS"),
  quiet: Number(knob("BENCH_QUIET")) || 0,
};
if (knob("BENCH_PG_URL")) process.env.BENCH_PG_URL = knob("BENCH_PG_URL");
if ([...opt.phases].some((p) => !["closed", "open", "stream"].includes(p))) {
  console.error("BENCH_PHASES takes closed, open and stream, comma-separated");
  process.exit(2);
}
if (!["pglite", "postgres", "both", "auto"].includes(opt.db)) {
  console.error("BENCH_STORAGE must be pglite, postgres, both or auto");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// The request: a short support-agent call, the same bytes to every target.

const TOKEN = randomBytes(24).toString("hex");
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
const HEADERS = {
  "content-type": "application/json",
  authorization: `Bearer ${TOKEN}`,
  "x-agent": "bench/chat",
};
const JSON_REQ: Request = {
  path: "/v1/chat/completions",
  headers: HEADERS,
  body: chatBody(false),
  stream: false,
};
const STREAM_REQ: Request = {
  path: "/v1/chat/completions",
  headers: HEADERS,
  body: chatBody(true),
  stream: true,
};

// ---------------------------------------------------------------------------------------------
// Processes and targets.

type Target = { name: string; url: string; proc: Proc | null; db: BenchDatabase | null; gateway: boolean };

const tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-bench-"));
// Compiled children live inside the repository, so their imports find node_modules.
const buildDir = path.resolve("node_modules", ".cache", `agentgate-bench-${process.pid}`);
const procs: Proc[] = [];
const dbs: BenchDatabase[] = [];
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await Promise.allSettled(procs.map((p) => p.stop()));
  await Promise.allSettled(dbs.map((d) => d.drop()));
  for (const dir of [tmp, buildDir]) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      console.error(`could not remove ${dir}: ${(err as Error).message}`);
    }
  }
}
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
process.once("SIGTERM", () => void cleanup().finally(() => process.exit(143)));

async function api(base: string, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

async function startGateway(
  name: string,
  upstreamUrl: string,
  db: BenchDatabase | null,
  discardEvents = false,
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
  });
  const proc = await Proc.start(name, ["gateway"], { env });
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
async function check(t: Target): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// Measurement: every run reads the CPU clocks of the processes involved before and after.

type Phase = "closed" | "open" | "stream";
type CpuUs = { proxy: number | null; upstream: number; loadgen: number; db: number | null };
type Run = {
  round: number;
  phase: Phase;
  target: string;
  result: ClosedResult | OpenResult;
  cpuUs: CpuUs;
  /** CPU used meanwhile by processes outside the bench, in cores (noise from a shared machine). */
  otherCores: number;
};

let upstream: Proc;
const runs: Run[] = [];

type Snap = {
  proxy: number | null;
  upstream: number;
  loadgen: number;
  db: Map<number, number> | null;
  /** All of the bench's processes (µs), the whole machine's busy time (µs), the clock (ms). */
  ours: number;
  machine: number;
  at: number;
};
async function snapshot(t: Target): Promise<Snap> {
  const [proxy, up, db] = await Promise.all([t.proc?.cpu(), upstream.cpu(), t.db?.backendCpuUs()]);
  const self = process.cpuUsage();
  let ours = self.user + self.system;
  for (const p of procs) ours += procCpuUs(p.pid) ?? 0;
  for (const us of db?.values() ?? []) ours += us;
  return {
    proxy: proxy ? proxy.user + proxy.system : null,
    upstream: up.user + up.system,
    loadgen: self.user + self.system,
    db: db ?? null,
    ours,
    machine: machineBusyUs(),
    at: performance.now(),
  };
}
function dbDelta(a: Map<number, number> | null, b: Map<number, number> | null): number | null {
  if (!a || !b) return null;
  let d = 0;
  // Backends that started during the phase count whole; one that ended loses its last stretch.
  for (const [pid, us] of b) d += us - (a.get(pid) ?? 0);
  return d;
}

/** CPU (cores) used over `ms` by processes outside the bench, while the bench is idle. */
async function othersBusy(ms: number): Promise<number> {
  const ours = () => {
    const self = process.cpuUsage();
    return procs.reduce((n, p) => n + (procCpuUs(p.pid) ?? 0), self.user + self.system);
  };
  const [m0, o0, t0] = [machineBusyUs(), ours(), performance.now()];
  await new Promise((r) => setTimeout(r, ms));
  return Math.max(0, (machineBusyUs() - m0 - (ours() - o0)) / ((performance.now() - t0) * 1000));
}

async function measure(round: number, phase: Phase, t: Target, fn: () => Promise<ClosedResult | OpenResult>) {
  if (opt.quiet > 0) {
    const until = Date.now() + 60_000;
    let busy = await othersBusy(500);
    while (busy > opt.quiet && Date.now() < until) busy = await othersBusy(1000);
    if (busy > opt.quiet)
      console.log(`  (still ${fmt(busy)} cores busy elsewhere after 60 s; running anyway)`);
  }
  const before = await snapshot(t);
  const result = await fn();
  const after = await snapshot(t);
  const cpuUs: CpuUs = {
    proxy: before.proxy !== null && after.proxy !== null ? after.proxy - before.proxy : null,
    upstream: after.upstream - before.upstream,
    loadgen: after.loadgen - before.loadgen,
    db: dbDelta(before.db, after.db),
  };
  const otherCores = Math.max(
    0,
    (after.machine - before.machine - (after.ours - before.ours)) / ((after.at - before.at) * 1000),
  );
  runs.push({ round, phase, target: t.name, result, cpuUs, otherCores });
  const ok = result.ok;
  const lat = "service" in result ? result.latency : result.latency;
  console.log(
    `  round ${round} ${phase.padEnd(6)} ${t.name.padEnd(11)} ${fmt(result.rps, 0).padStart(6)} req/s  p50 ${fmt(lat.p50)}  p99 ${fmt(lat.p99)} ms` +
      `  proxy CPU ${cpuUs.proxy === null ? "-" : fmt(cpuUs.proxy / ok, 0)} µs/req  others ${fmt(otherCores)} cores` +
      (result.errors ? `  ERRORS ${result.errors}` : ""),
  );
}

// ---------------------------------------------------------------------------------------------
// Reporting.

const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits);
const median = (xs: number[]): number => {
  const a = xs.filter((x) => !Number.isNaN(x)).sort((x, y) => x - y);
  if (a.length === 0) return Number.NaN;
  const m = Math.floor(a.length / 2);
  return a.length % 2 ? (a[m] as number) : ((a[m - 1] as number) + (a[m] as number)) / 2;
};
/** A Markdown table; the first `left` columns are text (left-aligned), the others numbers. */
function table(head: string[], rows: string[][], left = 1): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const cell = (c: string, i: number) => (i < left ? c.padEnd(w[i] as number) : c.padStart(w[i] as number));
  const line = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
  const rule = w.map((n, i) => `${"-".repeat(n + 1)}${i < left ? "-" : ":"}`).join("|");
  return [line(head), `|${rule}|`, ...rows.map(line)].join("\n");
}
const pick = (phase: Phase, target: string) => runs.filter((r) => r.phase === phase && r.target === target);
const med = (phase: Phase, target: string, f: (r: Run) => number) => median(pick(phase, target).map(f));
const perReq = (us: number | null, r: Run) => (us === null ? Number.NaN : us / r.result.ok);
/** Per-round paired value (gateway vs bare in the same round), median over rounds. */
function paired(
  phase: Phase,
  a: string,
  b: string,
  f: (x: Run, y: Run) => number,
): { median: number; all: number[] } {
  const all: number[] = [];
  for (const x of pick(phase, a)) {
    const y = runs.find((r) => r.phase === phase && r.target === b && r.round === x.round);
    if (y) all.push(f(x, y));
  }
  return { median: median(all), all };
}

function report(targets: Target[], meta: Record<string, string>): string {
  const names = targets.map((t) => t.name);
  const out: string[] = [];
  const cpuCols = (phase: Phase, n: string) => {
    const proxy = med(phase, n, (r) => perReq(r.cpuUs.proxy, r));
    const db = med(phase, n, (r) => perReq(r.cpuUs.db, r));
    return [
      fmt(proxy, 0),
      Number.isNaN(db) ? "-" : fmt(db, 0),
      fmt(
        med(phase, n, (r) => perReq(r.cpuUs.upstream, r)),
        0,
      ),
      fmt(
        med(phase, n, (r) => perReq(r.cpuUs.loadgen, r)),
        0,
      ),
    ];
  };
  const errors = (phase: Phase, n: string) => String(pick(phase, n).reduce((s, r) => s + r.result.errors, 0));

  if (opt.phases.has("closed")) {
    out.push(
      `### 1. Throughput, closed loop, ${opt.connections} connections, ${opt.seconds} s × ${opt.rounds} rounds (medians)\n`,
    );
    out.push(
      table(
        [
          "target",
          "req/s",
          "p50 ms",
          "p99 ms",
          "proxy CPU µs/req",
          "PG backend µs/req",
          "upstream µs/req",
          "load gen µs/req",
          "errors",
        ],
        names.map((n) => [
          n,
          fmt(
            med("closed", n, (r) => r.result.rps),
            0,
          ),
          fmt(med("closed", n, (r) => r.result.latency.p50)),
          fmt(med("closed", n, (r) => r.result.latency.p99)),
          ...cpuCols("closed", n),
          errors("closed", n),
        ]),
      ),
    );
  }
  if (opt.phases.has("open")) {
    out.push(
      `\n### 2. Latency, open loop, ${opt.rate} req/s evenly paced, ${opt.rateSeconds} s × ${opt.rounds} rounds (medians)\n`,
    );
    out.push(
      table(
        [
          "target",
          "req/s",
          "p50 ms",
          "p90 ms",
          "p99 ms",
          "p99.9 ms",
          "max ms",
          "proxy CPU µs/req",
          "PG backend µs/req",
          "upstream µs/req",
          "load gen µs/req",
          "errors",
        ],
        names.map((n) => {
          const o = (r: Run) => r.result as OpenResult;
          return [
            n,
            fmt(
              med("open", n, (r) => r.result.rps),
              0,
            ),
            fmt(med("open", n, (r) => o(r).latency.p50)),
            fmt(med("open", n, (r) => o(r).latency.p90)),
            fmt(med("open", n, (r) => o(r).latency.p99)),
            fmt(med("open", n, (r) => o(r).latency.p999)),
            fmt(med("open", n, (r) => o(r).latency.max)),
            ...cpuCols("open", n),
            errors("open", n),
          ];
        }),
      ),
    );
    const late = median(
      runs.filter((r) => r.phase === "open").map((r) => (r.result as OpenResult).sendLate.p99),
    );
    out.push(
      `\nLatency counts from each request's scheduled send time. Load generator send lateness (timer granularity), p99 over runs: ${fmt(late)} ms, in every target's figures alike.`,
    );
  }
  if (opt.phases.has("stream")) {
    out.push(
      `\n### 3. Streaming, closed loop, ${opt.streamConnections} connections, ${opt.streamSeconds} s × ${opt.rounds} rounds (medians)\n`,
    );
    out.push(
      table(
        [
          "target",
          "streams/s",
          "TTFB p50 ms",
          "TTFB p99 ms",
          "total p50 ms",
          "total p99 ms",
          "proxy CPU µs/req",
          "PG backend µs/req",
          "upstream µs/req",
          "load gen µs/req",
          "errors",
        ],
        names.map((n) => {
          const c = (r: Run) => r.result as ClosedResult;
          return [
            n,
            fmt(
              med("stream", n, (r) => r.result.rps),
              0,
            ),
            fmt(med("stream", n, (r) => c(r).ttfb?.p50 ?? Number.NaN)),
            fmt(med("stream", n, (r) => c(r).ttfb?.p99 ?? Number.NaN)),
            fmt(med("stream", n, (r) => r.result.latency.p50)),
            fmt(med("stream", n, (r) => r.result.latency.p99)),
            ...cpuCols("stream", n),
            errors("stream", n),
          ];
        }),
      ),
    );
  }

  out.push("\n### Targets (DESIGN.md), gateway vs bare proxy, per-round pairs, median over rounds\n");
  const rows: string[][] = [];
  const verdict = (value: number, ok: boolean) => (Number.isNaN(value) ? "n/a" : ok ? "PASS" : "FAIL");
  const list = (xs: number[], d: number) => xs.map((x) => fmt(x, d)).join(", ");
  for (const g of targets.filter((t) => t.gateway).map((t) => t.name)) {
    const cpu = paired("open", g, "bare", (x, y) => perReq(x.cpuUs.proxy, x) / perReq(y.cpuUs.proxy, y));
    const thr = paired("closed", g, "bare", (x, y) => x.result.rps / y.result.rps);
    const p99 = paired("open", g, "bare", (x, y) => x.result.latency.p99 - y.result.latency.p99);
    const p99d = paired("open", g, "direct", (x, y) => x.result.latency.p99 - y.result.latency.p99);
    const cpuAll = paired(
      "open",
      g,
      "bare",
      (x, y) =>
        (perReq(x.cpuUs.proxy, x) + (Number.isNaN(perReq(x.cpuUs.db, x)) ? 0 : perReq(x.cpuUs.db, x))) /
        perReq(y.cpuUs.proxy, y),
    );
    const strm = paired("stream", g, "bare", (x, y) => x.result.rps / y.result.rps);
    rows.push([
      g,
      `CPU/request at ${opt.rate} req/s ≤ 2× bare`,
      `${fmt(cpu.median)}× (${list(cpu.all, 2)})`,
      verdict(cpu.median, cpu.median <= 2),
    ]);
    if (pick("open", g).some((r) => r.cpuUs.db !== null))
      rows.push([
        g,
        "  same, counting its PostgreSQL backends (info)",
        `${fmt(cpuAll.median)}× (${list(cpuAll.all, 2)})`,
        "info",
      ]);
    rows.push([
      g,
      `throughput at ${opt.connections} connections ≥ 50% of bare`,
      `${fmt(thr.median * 100, 0)}% (${list(
        thr.all.map((x) => x * 100),
        0,
      )})`,
      verdict(thr.median, thr.median >= 0.5),
    ]);
    rows.push([
      g,
      `added p99 at ${opt.rate} req/s ≤ 1.5 ms (vs bare)`,
      `${fmt(p99.median)} ms (${list(p99.all, 2)})`,
      verdict(p99.median, p99.median <= 1.5),
    ]);
    rows.push([g, "  added p99 vs direct (info)", `${fmt(p99d.median)} ms (${list(p99d.all, 2)})`, "info"]);
    rows.push([
      g,
      "  streaming throughput vs bare (info)",
      `${fmt(strm.median * 100, 0)}% (${list(
        strm.all.map((x) => x * 100),
        0,
      )})`,
      "info",
    ]);
  }
  out.push(table(["gateway", "target", "measured: median (each round)", "result"], rows, 4));
  out.push(
    `\n${Object.entries(meta)
      .map(([k, v]) => `- ${k}: ${v}`)
      .join("\n")}`,
  );
  return out.join("\n");
}

async function gatewayEvents(t: Target): Promise<string> {
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

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = Date.now();
  const cpuModel =
    /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "?";
  const meta: Record<string, string> = {
    date: new Date().toISOString(),
    machine: `${os.availableParallelism()} CPUs, ${cpuModel}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    node: process.version,
    "load average at start (1/5/15 min)": os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" / "),
  };
  console.log(
    `agentgate bench — ${meta.machine}, Node ${process.version}, load average ${meta["load average at start (1/5/15 min)"]}`,
  );
  if ((os.loadavg()[0] ?? 0) > os.availableParallelism() / 2)
    console.log(
      "warning: the machine is busy (1-min load average above half the CPUs); figures will be noisy",
    );

  let pgProblem: string | null = null;
  if (opt.db !== "pglite") pgProblem = await pgReachable();
  const usePglite = opt.db !== "postgres";
  const usePg =
    (opt.db === "postgres" || opt.db === "both" || opt.db === "auto") && (opt.db !== "auto" || !pgProblem);
  if (usePg && pgProblem)
    throw new Error(`PostgreSQL (${new URL(pgAdminUrl()).host}) is not reachable: ${pgProblem}`);
  if (opt.db === "auto" && pgProblem)
    console.log(`PostgreSQL not reachable (${pgProblem}): gateway on PGlite only.`);

  const built = Date.now();
  buildChildren(buildDir);
  console.log(`children compiled with tsc in ${((Date.now() - built) / 1000).toFixed(1)} s`);
  upstream = await Proc.start("upstream", ["upstream"]);
  procs.push(upstream);
  const bare = await Proc.start("bare", ["bare", upstream.url]);
  procs.push(bare);
  const targets: Target[] = [
    { name: "direct", url: upstream.url, proc: null, db: null, gateway: false },
    { name: "bare", url: bare.url, proc: bare, db: null, gateway: false },
  ];
  if (usePglite) targets.push(await startGateway("gateway", upstream.url, null));
  if (usePg) {
    const db = await createBenchDatabase();
    dbs.push(db);
    targets.push(await startGateway("gateway-pg", upstream.url, db));
  }
  if (opt.diag) targets.push(await startGateway("gateway-noev", upstream.url, null, true));
  for (const t of targets) await check(t);
  const pools = new Map(
    targets.map((t) => [t.name, loadPool(t.url, Math.max(opt.connections, opt.streamConnections))]),
  );
  const poolOf = (t: Target) => pools.get(t.name) as ReturnType<typeof loadPool>;

  const s = opt.seconds + opt.rateSeconds + opt.streamSeconds;
  console.log(
    `targets: ${targets.map((t) => t.name).join(", ")}; ${opt.rounds} rounds × ${targets.length} targets × ${s} s + warm-up ≈ ${Math.ceil((opt.rounds * targets.length * (s + 1) + targets.length * (opt.warmup * 1.4 + 1)) / 60)} min`,
  );
  if (opt.warmup > 0) {
    for (const t of targets) {
      await closedLoop(poolOf(t), JSON_REQ, opt.connections, opt.warmup * 1000);
      await closedLoop(poolOf(t), STREAM_REQ, opt.streamConnections, opt.warmup * 400);
      await openLoop(poolOf(t), JSON_REQ, opt.rate, 1000);
    }
  }
  const profDir = path.join(
    os.tmpdir(),
    `agentgate-bench-profiles-${new Date().toISOString().replace(/[:.]/g, "-")}`,
  );
  if (opt.profile) {
    mkdirSync(profDir, { recursive: true });
    for (const t of targets) await t.proc?.profile();
  }

  for (let round = 1; round <= opt.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
    if (opt.phases.has("closed"))
      for (const t of order)
        await measure(round, "closed", t, () =>
          closedLoop(poolOf(t), JSON_REQ, opt.connections, opt.seconds * 1000),
        );
    if (opt.phases.has("open"))
      for (const t of order)
        await measure(round, "open", t, () =>
          openLoop(poolOf(t), JSON_REQ, opt.rate, opt.rateSeconds * 1000),
        );
    if (opt.phases.has("stream"))
      for (const t of order)
        await measure(round, "stream", t, () =>
          closedLoop(poolOf(t), STREAM_REQ, opt.streamConnections, opt.streamSeconds * 1000),
        );
  }

  const profiles: string[] = [];
  if (opt.profile) {
    for (const t of targets) {
      if (!t.proc) continue;
      const file = path.join(profDir, `${t.name}.${opt.heapProfile ? "heapprofile" : "cpuprofile"}`);
      await t.proc.profile(file);
      const calls = runs.filter((r) => r.target === t.name).reduce((n, r) => n + r.result.ok, 0);
      if (opt.heapProfile) {
        profiles.push(heapReport(t.name, file, calls, t.gateway ? 25 : 12, !!t.gateway));
        continue;
      }
      const p = summarizeProfile(file, t.gateway ? 25 : 12);
      const show = (rows: typeof p.byPlace) =>
        rows
          .map(
            (r) =>
              `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${((r.ms * 1000) / calls).toFixed(1).padStart(6)} µs/call  ${r.name}`,
          )
          .join("\n");
      profiles.push(
        `\n### CPU profile of ${t.name} during the rounds: ${p.totalMs.toFixed(0)} ms busy CPU for ${calls} calls ` +
          `(${((p.totalMs * 1000) / calls).toFixed(1)} µs/call), ${file}\n` +
          `\nSelf time by place:\n${show(p.byPlace)}\n\nSelf time by function:\n${show(p.byFunction)}` +
          (t.gateway ? `\n\nTotal time (self + callees) of agentgate's functions:\n${show(p.srcTotal)}` : ""),
      );
    }
  }
  for (const t of targets) if (t.gateway) meta[`events (${t.name})`] = await gatewayEvents(t);
  const others = runs.map((r) => r.otherCores);
  meta["CPU used by other processes during the runs"] =
    `median ${fmt(median(others))} cores, max ${fmt(Math.max(...others))} cores (of ${os.availableParallelism()})`;
  meta["load average at end (1/5/15 min)"] = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" / ");
  meta["wall time"] = `${((Date.now() - startedAt) / 1000).toFixed(0)} s`;
  meta.knobs = Object.keys(KNOBS)
    .filter((k) => k !== "BENCH_PG_URL" && k !== "BENCH_JSON")
    .map((k) => `${k}=${knob(k as Knob) || "-"}`)
    .join(" ");
  if (opt.profile) meta.note = "profiled run: the proxies' CPU figures include the profiler's cost";
  await Promise.all([...pools.values()].map((p) => p.close()));

  console.log(`\n${report(targets, meta)}${profiles.join("\n")}\n`);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ opt, meta, runs }, null, 2));
}

try {
  await main();
} finally {
  await cleanup();
}

function heapReport(name: string, file: string, calls: number, top: number, own: boolean): string {
  const p = summarizeHeapProfile(file, top);
  const show = (rows: typeof p.byPlace) =>
    rows
      .map(
        (r) =>
          `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${(r.ms / calls).toFixed(0).padStart(6)} B/call  ${r.name}`,
      )
      .join("\n");
  return (
    `\n### Allocations of ${name} during the rounds: ${(p.totalMs / 1e6).toFixed(0)} MB sampled for ${calls} calls ` +
    `(${(p.totalMs / calls).toFixed(0)} B/call), ${file}\n` +
    `\nBy place:\n${show(p.byPlace)}\n\nBy function:\n${show(p.byFunction)}` +
    (own ? `\n\nTotal (self + callees) under agentgate's functions:\n${show(p.srcTotal)}` : "")
  );
}
