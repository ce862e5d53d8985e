/**
 * The load generator: undici, in the bench's parent process, one keep-alive Pool per target.
 *
 * - `closedLoop`: N workers, each sending its next request as soon as the previous answer has been
 *   read to its end → throughput at concurrency N (and, for streams, time to first byte).
 * - `openLoop`: arrivals evenly paced at a fixed rate, whatever the answers do. Latency counts
 *   from each request's *scheduled* send time, so a target that falls behind pays for the queue
 *   it causes (no coordinated omission). Node timers wake at ~1 ms granularity, so a request may
 *   leave up to about a millisecond after its slot; that lateness is in every target's figures
 *   alike, and `sendLate` reports it. `service` is the latency from the actual send.
 *
 * Each also has a `…Samples` form that returns what it saw unsummarized, so that several short
 * runs of one target (the bench's slices) pool into one result (`closedResult`, `openResult`).
 *
 * Every answer is checked: status 200 and, for streams, a last event `data: [DONE]`.
 */
import { Pool } from "undici";
import type { Call } from "./stalls.js";

export type Request = { path: string; headers: Record<string, string>; body: Buffer; stream: boolean };

export type Summary = {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
};

export type ClosedResult = {
  ok: number;
  errors: number;
  seconds: number;
  rps: number;
  latency: Summary;
  ttfb: Summary | null;
};

export type OpenResult = {
  scheduled: number;
  ok: number;
  errors: number;
  seconds: number;
  rps: number;
  latency: Summary;
  service: Summary;
  sendLate: Summary;
  /** With `keepCalls`: each call's scheduled send (ms since the epoch) and latency (BENCH_STALLS). */
  calls?: Call[];
};

export function summarize(values: Float64Array | number[]): Summary {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  if (n === 0)
    return {
      n,
      mean: Number.NaN,
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      p999: Number.NaN,
      max: Number.NaN,
    };
  const q = (p: number) => a[Math.min(n - 1, Math.ceil(p * n) - 1)] as number;
  let sum = 0;
  for (const v of a) sum += v;
  return {
    n,
    mean: sum / n,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: a[n - 1] as number,
  };
}

export function loadPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

const DONE = Buffer.from("data: [DONE]\n\n");

/** One call; resolves to the time to first byte (ms after `sentAt`), or throws on any fault. */
async function call(pool: Pool, r: Request, sentAt: number): Promise<number> {
  const res = await pool.request({ method: "POST", path: r.path, headers: r.headers, body: r.body });
  if (!r.stream) {
    await res.body.dump({ limit: 1 << 20 });
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    return Number.NaN;
  }
  let ttfb = Number.NaN;
  let last: Buffer | null = null;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (last === null) ttfb = performance.now() - sentAt;
    last = chunk;
  }
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  if (!last || last.length < DONE.length || !last.subarray(last.length - DONE.length).equals(DONE))
    throw new Error("stream did not end with [DONE]");
  return ttfb;
}

/** What one closed-loop run saw, before summarizing: runs of one target can be pooled. */
export type ClosedSamples = { errors: number; ms: number; latency: number[]; ttfb: number[] | null };

export async function closedLoopSamples(
  pool: Pool,
  r: Request,
  connections: number,
  ms: number,
): Promise<ClosedSamples> {
  const latency: number[] = [];
  const ttfb: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        const first = await call(pool, r, s);
        latency.push(performance.now() - s);
        if (r.stream) ttfb.push(first);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return { errors, ms: performance.now() - t0, latency, ttfb: r.stream ? ttfb : null };
}

/** One result from runs of one target (throughput over their summed time, latencies pooled). */
export function closedResult(runs: ClosedSamples[]): ClosedResult {
  const latency = runs.flatMap((s) => s.latency);
  const seconds = runs.reduce((n, s) => n + s.ms, 0) / 1000;
  return {
    ok: latency.length,
    errors: runs.reduce((n, s) => n + s.errors, 0),
    seconds,
    rps: latency.length / seconds,
    latency: summarize(latency),
    ttfb: runs[0]?.ttfb ? summarize(runs.flatMap((s) => s.ttfb ?? [])) : null,
  };
}

export async function closedLoop(
  pool: Pool,
  r: Request,
  connections: number,
  ms: number,
): Promise<ClosedResult> {
  return closedResult([await closedLoopSamples(pool, r, connections, ms)]);
}

/** What one open-loop run saw, before summarizing: runs of one target can be pooled. */
export type OpenSamples = {
  scheduled: number;
  errors: number;
  ms: number;
  latency: number[];
  service: number[];
  sendLate: Float64Array;
  calls: Call[] | null;
};

/** One result from runs of one target (rate over their summed time, latencies pooled). */
export function openResult(runs: OpenSamples[]): OpenResult {
  const latency = runs.flatMap((s) => s.latency);
  const seconds = runs.reduce((n, s) => n + s.ms, 0) / 1000;
  const calls = runs.every((s) => s.calls) ? runs.flatMap((s) => s.calls ?? []) : null;
  return {
    scheduled: runs.reduce((n, s) => n + s.scheduled, 0),
    ok: latency.length,
    errors: runs.reduce((n, s) => n + s.errors, 0),
    seconds,
    rps: latency.length / seconds,
    latency: summarize(latency),
    service: summarize(runs.flatMap((s) => s.service)),
    sendLate: summarize(runs.flatMap((s) => [...s.sendLate])),
    ...(calls ? { calls } : {}),
  };
}

export async function openLoop(
  pool: Pool,
  r: Request | ((k: number) => Request),
  rate: number,
  ms: number,
  keepCalls = false,
): Promise<OpenResult> {
  return openResult([await openLoopSamples(pool, r, rate, ms, keepCalls)]);
}

/** `r`: the request, or a function giving the k-th call's request (e.g. its own session). */
export function openLoopSamples(
  pool: Pool,
  r: Request | ((k: number) => Request),
  rate: number,
  ms: number,
  keepCalls = false,
): Promise<OpenSamples> {
  const requestOf = typeof r === "function" ? r : () => r;
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const interval = 1000 / rate;
  const latency: number[] = [];
  const service: number[] = [];
  const calls: Call[] = [];
  const sendLate = new Float64Array(total);
  let errors = 0;
  let finished = 0;
  let i = 0;
  const start = performance.now() + 2;
  return new Promise((resolve) => {
    const fire = (scheduled: number, k: number) => {
      const sentAt = performance.now();
      sendLate[k] = sentAt - scheduled;
      call(pool, requestOf(k), sentAt)
        .then(
          () => {
            const now = performance.now();
            latency.push(now - scheduled);
            service.push(now - sentAt);
            if (keepCalls) calls.push([performance.timeOrigin + scheduled, now - scheduled]);
          },
          () => {
            errors++;
          },
        )
        .finally(() => {
          if (++finished === total) {
            const ms = performance.now() - start;
            resolve({
              scheduled: total,
              errors,
              ms,
              latency,
              service,
              sendLate,
              calls: keepCalls ? calls : null,
            });
          }
        });
    };
    const tick = () => {
      const now = performance.now();
      while (i < total && start + i * interval <= now) {
        fire(start + i * interval, i);
        i++;
      }
      if (i < total) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
    };
    setTimeout(tick, 2);
  });
}
