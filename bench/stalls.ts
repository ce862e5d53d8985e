/**
 * BENCH_STALLS: what a gateway was doing while its slowest calls waited. The gateway child records
 * the pauses it can see — V8's garbage collections (a `PerformanceObserver` on `gc`), the
 * synchronous part of each event batch (joining its events' JSON texts, handing them to the
 * driver) and each batch's write until the database answers — on the wall clock; the load
 * generator keeps each open-loop call's scheduled time and latency. Each call at or above the round's p99 is then
 * matched against the marks it overlaps. A cause is telling when its share of the slow calls is
 * well above its share of all calls (which is what chance alone gives).
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { EventRecorder } from "../src/events/recorder.js";
import { summarize } from "./load.js";

/** [what, start (ms since the epoch), duration (ms)] */
export type Mark = [string, number, number];
/** [scheduled send (ms since the epoch), latency (ms)] */
export type Call = [number, number];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "GC: scavenge",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "GC: mark-compact",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "GC: incremental marking step",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "GC: weak callbacks",
};
export const NONE = "none of these";

/** In the gateway child: starts recording; the function returned hands over the marks so far. */
export function recordStalls(recorder: EventRecorder): () => Mark[] {
  let marks: Mark[] = [];
  const now = () => performance.timeOrigin + performance.now();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      marks.push([GC_KINDS[kind] ?? "GC: other", performance.timeOrigin + e.startTime, e.duration]);
    }
  }).observe({ entryTypes: ["gc"] });
  // The recorder's one write path, wrapped from outside: diagnosis only, never in production.
  const r = recorder as unknown as { writeBatch(batch: unknown[]): Promise<void> };
  const writeBatch = r.writeBatch.bind(r);
  r.writeBatch = (batch) => {
    const t0 = now();
    const writing = writeBatch(batch);
    marks.push(["event batch: JSON and send (synchronous part)", t0, now() - t0]);
    void writing.finally(() => marks.push(["event batch: write in flight", t0, now() - t0]));
    return writing;
  };
  return () => {
    const out = marks;
    marks = [];
    return out;
  };
}

export type Attribution = {
  p99: number;
  slow: number;
  /** cause → [share of the calls ≥ p99, share of all calls] overlapping it */
  causes: Record<string, [number, number]>;
  /** cause → the durations (ms) of its pauses while the calls ran */
  pauses: Record<string, number[]>;
  /** how long the calls ran, seconds */
  seconds: number;
};

/** `seconds`: how long the calls ran, when they came in slices with gaps between them. */
export function attribute(calls: Call[], marks: Mark[], seconds?: number): Attribution {
  const { p99 } = summarize(calls.map((c) => c[1]));
  const byStart = [...marks].sort((a, b) => a[1] - b[1]);
  const longest = byStart.reduce((m, x) => Math.max(m, x[2]), 0);
  const overlapping = ([at, latency]: Call) => {
    const found = new Set<string>();
    // Marks start in order; one ending after `at` started at most `longest` ms before it.
    let lo = 0;
    let hi = byStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((byStart[mid] as Mark)[1] < at - longest) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < byStart.length; i++) {
      const [what, start, ms] = byStart[i] as Mark;
      if (start >= at + latency) break;
      if (start + ms > at) found.add(what);
    }
    if (found.size === 0) found.add(NONE);
    return found;
  };
  const count = (list: Call[]) => {
    const n = new Map<string, number>();
    for (const c of list) for (const what of overlapping(c)) n.set(what, (n.get(what) ?? 0) + 1);
    return n;
  };
  const slow = calls.filter((c) => c[1] >= p99);
  const inSlow = count(slow);
  const inAll = count(calls);
  const causes: Record<string, [number, number]> = {};
  for (const what of new Set([...inSlow.keys(), ...inAll.keys()]))
    causes[what] = [(inSlow.get(what) ?? 0) / slow.length, (inAll.get(what) ?? 0) / calls.length];
  const first = calls.reduce((m, c) => Math.min(m, c[0]), Number.POSITIVE_INFINITY);
  const last = calls.reduce((m, c) => Math.max(m, c[0] + c[1]), 0);
  const pauses: Record<string, number[]> = {};
  for (const [what, start, ms] of marks) {
    if (start >= last || start + ms <= first) continue;
    pauses[what] ??= [];
    pauses[what].push(ms);
  }
  return { p99, slow: slow.length, causes, pauses, seconds: seconds ?? (last - first) / 1000 };
}
