/** The report of `npm run bench`: Markdown tables of the runs, the targets' verdicts, profiles. */
import { opt } from "./knobs.js";
import type { ClosedResult, OpenResult } from "./load.js";
import { summarizeHeapProfile } from "./profile.js";
import type { Attribution } from "./stalls.js";
import type { Target } from "./targets.js";

export type Phase = "closed" | "open" | "stream";
export type CpuUs = { proxy: number | null; upstream: number; loadgen: number; db: number | null };
export type Run = {
  round: number;
  phase: Phase;
  target: string;
  result: ClosedResult | OpenResult;
  cpuUs: CpuUs;
  /** CPU used meanwhile by processes outside the bench, in cores (noise from a shared machine). */
  otherCores: number;
  /** BENCH_STALLS, gateways' open loop: what the slowest calls overlapped. */
  stalls?: Attribution;
};

/** Every measured run, in order (run.ts appends; the report reads). */
export const runs: Run[] = [];

export const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits);
export const median = (xs: number[]): number => {
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

/** The last columns of every phase's table: CPU per request of each process, then errors. */
const CPU_HEAD = ["proxy CPU µs/req", "PG backend µs/req", "upstream µs/req", "load gen µs/req", "errors"];

export function report(targets: Target[], meta: Record<string, string>): string {
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
  const rps = (phase: Phase, n: string) =>
    fmt(
      med(phase, n, (r) => r.result.rps),
      0,
    );
  const errors = (phase: Phase, n: string) => String(pick(phase, n).reduce((s, r) => s + r.result.errors, 0));

  if (opt.phases.has("closed")) {
    out.push(
      `### 1. Throughput, closed loop, ${opt.connections} connections, ${opt.seconds} s × ${opt.rounds} rounds (medians)\n`,
    );
    out.push(
      table(
        ["target", "req/s", "p50 ms", "p99 ms", ...CPU_HEAD],
        names.map((n) => [
          n,
          rps("closed", n),
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
        ["target", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", ...CPU_HEAD],
        names.map((n) => {
          const o = (r: Run) => r.result as OpenResult;
          return [
            n,
            rps("open", n),
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
        ["target", "streams/s", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "total p99 ms", ...CPU_HEAD],
        names.map((n) => {
          const c = (r: Run) => r.result as ClosedResult;
          return [
            n,
            rps("stream", n),
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
  if (opt.stalls) out.push(stallsReport());
  out.push(
    `\n${Object.entries(meta)
      .map(([k, v]) => `- ${k}: ${v}`)
      .join("\n")}`,
  );
  return out.join("\n");
}

export function heapReport(name: string, file: string, calls: number, top: number, own: boolean): string {
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

/** The report's section: per gateway and cause, the share of the slow calls in each round. */
function stallsReport(): string {
  const out = [
    "\n### What each gateway was doing during its calls at or above the p99 (BENCH_STALLS, open loop)\n",
    "A call counts under every pause it overlapped. Share of all calls: what chance alone gives.\n",
  ];
  const pct = (x: number, digits = 0) => `${(x * 100).toFixed(digits)}%`;
  for (const target of [...new Set(runs.filter((r) => r.stalls).map((r) => r.target))]) {
    const rounds = runs.filter((r) => r.target === target && r.stalls) as (Run & { stalls: Attribution })[];
    const causes = [...new Set(rounds.flatMap((r) => Object.keys(r.stalls.causes)))].sort();
    const seconds = rounds.reduce((s, r) => s + r.stalls.seconds, 0);
    const rows = causes.map((what) => {
      const share = (i: 0 | 1) => rounds.map((r) => r.stalls.causes[what]?.[i] ?? 0);
      const slow = share(0);
      const ms = rounds.flatMap((r) => r.stalls.pauses[what] ?? []).sort((a, b) => a - b);
      return [
        target,
        what,
        slow.map((x) => pct(x)).join(", "),
        share(1)
          .map((x) => pct(x, 1))
          .join(", "),
        ms.length === 0
          ? "-"
          : `${fmt(ms.length / seconds, 1)}/s, ${fmt(ms[Math.floor(ms.length / 2)] as number)} / ${fmt(ms.at(-1) as number)} ms`,
      ];
    });
    out.push(
      `${table(["gateway", "overlapped", "share of calls ≥ p99, each round", "share of all calls", "pauses: rate, median / max"], rows, 4)}\n`,
    );
  }
  return out.join("\n");
}
