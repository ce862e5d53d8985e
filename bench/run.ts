/**
 * `npm run bench`: the gateway against a bare Node pass-through proxy (undici) and direct calls,
 * same zero-delay fake upstream, same run, targets alternating. See docs/benchmarks.md.
 *
 * Processes: this one (the load generator), the fake upstream, the bare proxy and each gateway
 * (embedded PGlite; and PostgreSQL when reachable), each in its own child, so CPU time is read per
 * process. Phases, repeated for every round; within a phase the targets take turns in slices of
 * about a second (BENCH_SLICE_SECONDS), in an order shuffled per slice:
 *   1. closed loop, C connections, S seconds          → throughput, latency under saturation
 *   2. open loop, R req/s evenly paced                → p50/p99/max from the scheduled send time,
 *                                                       CPU time per request of each process
 *   3. streaming closed loop, C connections           → streams/s, time to first byte
 * Medians over the rounds are reported; the targets of DESIGN.md are checked on per-round pairs
 * (gateway vs bare proxy in the same round). The bench reports; it never fails the build.
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SERVER_NODE_FLAGS } from "../src/node-flags.js";
import { KNOBS, type Knob, knob, opt } from "./knobs.js";
import {
  type ClosedResult,
  type ClosedSamples,
  closedLoop,
  closedLoopSamples,
  closedResult,
  loadPool,
  type OpenResult,
  type OpenSamples,
  openLoop,
  openLoopSamples,
  openResult,
} from "./load.js";
import { OTHER_CPUS, PROXY_CPUS, pin, pinningAvailable, unpin } from "./pin.js";
import { type BenchDatabase, createBenchDatabase, pgAdminUrl, pgReachable } from "./postgres.js";
import { buildChildren, machineBusyUs, Proc, procCpuUs } from "./procs.js";
import { summarizeProfile } from "./profile.js";
import { type Attribution, attribute, type Mark } from "./stalls.js";
import { type CpuUs, fmt, heapReport, median, type Phase, report, runs } from "./tables.js";
import {
  abBuildDir,
  buildDir,
  check,
  cleanup,
  dbs,
  gatewayEvents,
  JSON_REQ,
  procs,
  STREAM_REQ,
  startGateway,
  type Target,
} from "./targets.js";

// ---------------------------------------------------------------------------------------------
// Measurement: every run reads the CPU clocks of the processes involved before and after.

let upstream: Proc;

type Snap = {
  proxy: number | null;
  /** BENCH_STALLS: the gateway's pauses since the previous snapshot. */
  marks: Mark[] | undefined;
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
    marks: proxy?.marks,
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

/** Waits (BENCH_QUIET, up to 60 s) until processes outside the bench are about idle. */
async function waitQuiet(): Promise<void> {
  if (opt.quiet <= 0) return;
  const until = Date.now() + 60_000;
  let busy = await othersBusy(500);
  while (busy > opt.quiet && Date.now() < until) busy = await othersBusy(1000);
  if (busy > opt.quiet) console.log(`  (still ${fmt(busy)} cores busy elsewhere after 60 s; running anyway)`);
}

/** A uniformly random permutation (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const add = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);

/**
 * One phase of a round. The targets take turns in slices of about BENCH_SLICE_SECONDS, so each
 * target samples the whole stretch of the phase alike and a drift of the machine's speed lands on
 * all of them, not on whichever ran in its slow moment. The first slice keeps the round's order;
 * every later one is shuffled, so no target always follows the same one (a rotation keeps the
 * cyclic order: the bare proxy then always ran right after the direct calls).
 * Every slice runs between two readings of the CPU clocks of its target's processes; each
 * target's slices are pooled into one run (counts and CPU summed, latencies merged).
 */
async function measurePhase<S extends ClosedSamples | OpenSamples>(
  round: number,
  phase: Phase,
  order: Target[],
  seconds: number,
  runSlice: (t: Target, ms: number) => Promise<S>,
  pool: (slices: S[]) => ClosedResult | OpenResult,
): Promise<void> {
  await waitQuiet();
  const slices = Math.max(1, Math.round(seconds / opt.sliceSeconds));
  const ms = (seconds * 1000) / slices;
  type Acc = { samples: S[]; cpuUs: CpuUs; others: number; elapsedMs: number; marks: Mark[] | null };
  const acc = new Map<Target, Acc>(
    order.map((t) => [
      t,
      {
        samples: [],
        cpuUs: { proxy: 0, upstream: 0, loadgen: 0, db: 0 },
        others: 0,
        elapsedMs: 0,
        marks: null,
      },
    ]),
  );
  for (let k = 0; k < slices; k++) {
    for (const t of k === 0 ? order : shuffled(order)) {
      const a = acc.get(t) as Acc;
      if (phase === "open" && opt.pin)
        pin(t.proc?.pid ?? null, [process.pid, ...procs.filter((p) => p !== t.proc).map((p) => p.pid)]);
      const before = await snapshot(t);
      a.samples.push(await runSlice(t, ms));
      const after = await snapshot(t);
      a.cpuUs = {
        proxy: add(
          a.cpuUs.proxy,
          before.proxy !== null && after.proxy !== null ? after.proxy - before.proxy : null,
        ),
        upstream: a.cpuUs.upstream + after.upstream - before.upstream,
        loadgen: a.cpuUs.loadgen + after.loadgen - before.loadgen,
        db: add(a.cpuUs.db, dbDelta(before.db, after.db)),
      };
      a.others += after.machine - before.machine - (after.ours - before.ours);
      a.elapsedMs += after.at - before.at;
      if (after.marks) {
        a.marks ??= [];
        a.marks.push(...after.marks);
      }
    }
  }
  if (phase === "open" && opt.pin) unpin([process.pid, ...procs.map((p) => p.pid)]);

  for (const t of order) {
    const a = acc.get(t) as Acc;
    const result = pool(a.samples);
    const { cpuUs } = a;
    const otherCores = Math.max(0, a.others / (a.elapsedMs * 1000));
    let stalls: Attribution | undefined;
    if ("calls" in result && result.calls) {
      if (a.marks) stalls = attribute(result.calls, a.marks, result.seconds);
      delete result.calls;
    }
    runs.push({ round, phase, target: t.name, result, cpuUs, otherCores, ...(stalls ? { stalls } : {}) });
    const lat = result.latency;
    console.log(
      `  round ${round} ${phase.padEnd(6)} ${t.name.padEnd(11)} ${fmt(result.rps, 0).padStart(6)} req/s  p50 ${fmt(lat.p50)}  p99 ${fmt(lat.p99)} ms` +
        `  proxy CPU ${cpuUs.proxy === null ? "-" : fmt(cpuUs.proxy / result.ok, 0)} µs/req  others ${fmt(otherCores)} cores` +
        (result.errors ? `  ERRORS ${result.errors}` : ""),
    );
  }
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

  if (opt.pin) {
    const why = pinningAvailable();
    if (why) throw new Error(`BENCH_PIN: cannot pin on this machine (${why})`);
    meta["CPU placement in the open loop"] =
      `proxy measured on CPU ${PROXY_CPUS}; load generator, upstream, idle targets, PostgreSQL on CPU ${OTHER_CPUS}`;
  }

  let pgProblem: string | null = null;
  if (opt.db !== "pglite" || opt.abStorage === "postgres") pgProblem = await pgReachable();
  const usePglite = opt.db !== "postgres";
  const usePg =
    (opt.db === "postgres" || opt.db === "both" || opt.db === "auto") && (opt.db !== "auto" || !pgProblem);
  if (usePg && pgProblem)
    throw new Error(`PostgreSQL (${new URL(pgAdminUrl()).host}) is not reachable: ${pgProblem}`);
  if (opt.db === "auto" && pgProblem)
    console.log(`PostgreSQL not reachable (${pgProblem}): gateway on PGlite only.`);

  const built = Date.now();
  buildChildren(buildDir);
  const abScript = abBuildDir ? buildChildren(abBuildDir, opt.abTree) : undefined;
  console.log(`children compiled with tsc in ${((Date.now() - built) / 1000).toFixed(1)} s`);
  upstream = await Proc.start("upstream", ["upstream"]);
  procs.push(upstream);
  // The bare proxy runs with the gateway's Node flags too: the comparison is of the code, not of
  // the garbage collector's settings.
  const bare = await Proc.start("bare", ["bare", upstream.url], { execArgv: [...SERVER_NODE_FLAGS] });
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
  if (opt.ab || opt.abTree) {
    let db: BenchDatabase | null = null;
    if (opt.abStorage === "postgres") {
      if (pgProblem) throw new Error(`BENCH_AB_STORAGE=postgres: PostgreSQL is not reachable: ${pgProblem}`);
      db = await createBenchDatabase();
      dbs.push(db);
    }
    targets.push(await startGateway("gateway-ab", upstream.url, db, false, opt.ab ?? {}, abScript));
  }
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
    // Rotation alone leaves each gateway mostly right after the same one (gateway-ab after
    // gateway in three rounds of four), and a same-run A/B then measured position as much as the
    // setting: the gateways keep the rotation's slots but take them in their own order in odd
    // rounds and in reverse in even ones, so each pair runs in both orders equally often.
    const slots = order.flatMap((t, i) => (t.gateway ? [i] : []));
    const gateways = targets.filter((t) => t.gateway);
    if (round % 2 === 0) gateways.reverse();
    slots.forEach((slot, k) => {
      order[slot] = gateways[k] as Target;
    });
    if (opt.phases.has("closed"))
      await measurePhase(
        round,
        "closed",
        order,
        opt.seconds,
        (t, ms) => closedLoopSamples(poolOf(t), JSON_REQ, opt.connections, ms),
        closedResult,
      );
    if (opt.phases.has("open"))
      await measurePhase(
        round,
        "open",
        order,
        opt.rateSeconds,
        (t, ms) => openLoopSamples(poolOf(t), JSON_REQ, opt.rate, ms, opt.stalls && !!t.gateway),
        openResult,
      );
    if (opt.phases.has("stream"))
      await measurePhase(
        round,
        "stream",
        order,
        opt.streamSeconds,
        (t, ms) => closedLoopSamples(poolOf(t), STREAM_REQ, opt.streamConnections, ms),
        closedResult,
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
