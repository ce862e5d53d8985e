/** The knobs of `npm run bench`: environment variables, or the same names as flags (`--rounds=5`). */
import { existsSync } from "node:fs";
import path from "node:path";
import { isHeapProfile } from "./profile.js";

export const KNOBS = {
  BENCH_SECONDS: ["4", "closed-loop (throughput) phase length, seconds"],
  BENCH_RATE: ["1000", "open-loop arrival rate, requests per second"],
  // A p99 over 6,000 calls rests on its 60 slowest, which one mark-compact (10-20 calls held up)
  // moves by milliseconds; 15,000 put 150 behind it (docs/benchmarks.md, main at a19aae6).
  BENCH_RATE_SECONDS: ["15", "open-loop phase length, seconds"],
  BENCH_STREAM_SECONDS: ["4", "streaming phase length, seconds"],
  // The VM's speed drifts over seconds to minutes; a target measured in one stretch of a phase
  // and its baseline in the next compared two moments as much as two proxies.
  BENCH_SLICE_SECONDS: [
    "1",
    "the targets take turns within each phase in slices of this length, each target's slices pooled (a value ≥ the phase length: one stretch per target)",
  ],
  BENCH_CONNECTIONS: ["64", "closed-loop concurrency (connections)"],
  BENCH_STREAM_CONNECTIONS: ["64", "streaming concurrency (connections)"],
  BENCH_ROUNDS: [
    "5",
    "rounds; each runs every phase on every target (the targets are medians of per-round pairs)",
  ],
  BENCH_WARMUP_SECONDS: ["3", "warm-up per target before the rounds, seconds"],
  BENCH_PHASES: ["closed,open,stream", "phases to run, comma-separated: closed, open, stream"],
  BENCH_STORAGE: ["auto", "gateway storage: pglite | postgres | both | auto (both when PostgreSQL answers)"],
  BENCH_PG_URL: [
    "",
    "PostgreSQL admin URL (default AGENTGATE_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres)",
  ],
  BENCH_PROFILE: [
    "",
    "1: CPU-profile the proxies during the rounds and print the top costs (slows them); heap: sample their allocations instead; promoted: only the allocations that outlived a scavenge (what the mark-compacts collect)",
  ],
  BENCH_QUIET: [
    "",
    "before each phase of a round, wait (up to 60 s) until other processes use less than this many cores, e.g. 0.2",
  ],
  BENCH_EVENT_FLUSH_MS: ["", "the gateways' AGENTGATE_EVENT_FLUSH_MS (default: the storage's own)"],
  BENCH_DIAG: ["", "1: add target gateway-noev (PGlite, every event discarded) to show what recording costs"],
  BENCH_AB: [
    "",
    "add target gateway-ab (PGlite, or BENCH_AB_STORAGE) started with these settings, e.g. AGENTGATE_EVENT_FLUSH_MS=250 (comma-separated; NODE_FLAGS=... replaces the server's Node flags on the command line, where any V8 flag is allowed; NODE_OPTIONS=... replaces them through the environment; PGOPTIONS=... sets its PostgreSQL sessions' options, e.g. -c synchronous_commit=off): a same-run A/B against target gateway",
  ],
  BENCH_AB_STORAGE: ["pglite", "storage of target gateway-ab: pglite | postgres"],
  BENCH_AB_TREE: [
    "",
    "run target gateway-ab (added without BENCH_AB too) from this other checkout, e.g. a `git worktree` of another commit with its node_modules: a same-run A/B of two versions of the code",
  ],
  BENCH_STALLS: [
    "",
    "1: for each gateway's calls above the p99 (open loop), report which of its pauses they overlapped: GC, event batches",
  ],
  BENCH_PIN: [
    "",
    "1: in the open loop, the proxy being measured runs alone on the upper half of the CPUs, the load generator, upstream and local PostgreSQL on the lower half (taskset)",
  ],
  BENCH_JSON: ["", "write every raw result to this JSON file"],
} as const;
export type Knob = keyof typeof KNOBS;

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
export const knob = (k: Knob): string => process.env[k] ?? KNOBS[k][0];

/** `AGENTGATE_X=1,AGENTGATE_Y=2` → the settings; null when empty. The gateway's own settings, NODE_FLAGS and NODE_OPTIONS. */
function abSettings(text: string): Record<string, string> | null {
  if (!text) return null;
  const out: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const m = /^\s*(AGENTGATE_[A-Z0-9_]+|NODE_OPTIONS|NODE_FLAGS|PGOPTIONS)=(.*)$/.exec(pair);
    if (!m) {
      console.error(
        `BENCH_AB: '${pair}' is not AGENTGATE_<SETTING>=<value>, NODE_FLAGS=<flags>, NODE_OPTIONS=<flags> or PGOPTIONS=<options>`,
      );
      process.exit(2);
    }
    out[m[1] as string] = (m[2] as string).trim();
  }
  return out;
}
const num = (k: Knob): number => {
  const v = Number(knob(k));
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${k} must be a positive number`);
    process.exit(2);
  }
  return v;
};
export const opt = {
  seconds: num("BENCH_SECONDS"),
  rate: num("BENCH_RATE"),
  rateSeconds: num("BENCH_RATE_SECONDS"),
  streamSeconds: num("BENCH_STREAM_SECONDS"),
  sliceSeconds: num("BENCH_SLICE_SECONDS"),
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
  profile: ["1", "heap", "promoted"].includes(knob("BENCH_PROFILE")),
  heapProfile: isHeapProfile(knob("BENCH_PROFILE")),
  json: knob("BENCH_JSON"),
  diag: knob("BENCH_DIAG") === "1",
  ab: abSettings(knob("BENCH_AB")),
  abStorage: knob("BENCH_AB_STORAGE"),
  abTree: knob("BENCH_AB_TREE") ? path.resolve(knob("BENCH_AB_TREE")) : "",
  stalls: knob("BENCH_STALLS") === "1",
  eventFlushMs: knob("BENCH_EVENT_FLUSH_MS"),
  quiet: Number(knob("BENCH_QUIET")) || 0,
  pin: knob("BENCH_PIN") === "1",
};
if (knob("BENCH_PG_URL")) process.env.BENCH_PG_URL = knob("BENCH_PG_URL");
if ([...opt.phases].some((p) => !["closed", "open", "stream"].includes(p))) {
  console.error("BENCH_PHASES takes closed, open and stream, comma-separated");
  process.exit(2);
}
if (opt.abTree && !existsSync(path.join(opt.abTree, "bench", "child.ts"))) {
  console.error(`BENCH_AB_TREE: ${opt.abTree} is not an agentgate checkout (no bench/child.ts)`);
  process.exit(2);
}
if (!["pglite", "postgres"].includes(opt.abStorage)) {
  console.error("BENCH_AB_STORAGE must be pglite or postgres");
  process.exit(2);
}
if (!["pglite", "postgres", "both", "auto"].includes(opt.db)) {
  console.error("BENCH_STORAGE must be pglite, postgres, both or auto");
  process.exit(2);
}
