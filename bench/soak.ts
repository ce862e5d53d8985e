/**
 * `npm run bench:soak`: DESIGN.md's memory target — flat RSS over a 10-minute soak at 500 req/s.
 * One gateway (PostgreSQL when it answers, else PGlite; BENCH_STORAGE=pglite|postgres to choose)
 * in front of the bench's fake upstream, with a running two-arm experiment, takes an open-loop
 * load of JSON and streamed calls (1 in 5), each workflow run its own session (100,000 distinct
 * ones, so anything kept per session would show). Every minute: the gateway's RSS (sampled every
 * 5 s), latency and errors; at the end the RSS trend over the second half (least squares) and the
 * event count against the calls answered.
 *
 * Knobs (environment): BENCH_SOAK_MINUTES (10), BENCH_SOAK_RATE (500), BENCH_STORAGE.
 */
import { readFileSync } from "node:fs";
import { loadPool, openLoop, type Request } from "./load.js";
import { type BenchDatabase, createBenchDatabase, pgReachable } from "./postgres.js";
import { buildChildren, Proc } from "./procs.js";
import { fmt, median } from "./tables.js";
import {
  api,
  buildDir,
  check,
  cleanup,
  dbs,
  gatewayEvents,
  HEADERS,
  JSON_REQ,
  procs,
  STREAM_REQ,
  startGateway,
} from "./targets.js";

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 500);
const SESSIONS = 100_000;

/** Resident set size of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const storage = process.env.BENCH_STORAGE ?? ((await pgReachable()) ? "pglite" : "postgres");
  buildChildren(buildDir);
  const upstream = await Proc.start("upstream", ["upstream"]);
  procs.push(upstream);
  let db: BenchDatabase | null = null;
  if (storage === "postgres") {
    db = await createBenchDatabase();
    dbs.push(db);
  }
  const gw = await startGateway(storage === "postgres" ? "gateway-pg" : "gateway", upstream.url, db);
  await check(gw);
  // A second version and a running experiment between the two: sessions are assigned arms.
  await api(gw.url, "POST", "/api/v1/systems/bench/agents/chat/versions", {
    kind: "fine_tuned",
    upstream: "bench-upstream",
    model: "ft:gpt-4o-mini:bench::soak",
  });
  const exp = (await api(gw.url, "POST", "/api/v1/experiments", {
    name: "soak",
    system: "bench",
    agent: "chat",
    arms: [
      { name: "control", weight: 50, versions: { chat: 1 } },
      { name: "ft", weight: 50, versions: { chat: 2 } },
    ],
  })) as { id: number };
  await api(gw.url, "POST", `/api/v1/experiments/${exp.id}/start`);

  const pid = gw.proc?.pid as number;
  const request = (k: number): Request => {
    const base = k % 5 === 4 ? STREAM_REQ : JSON_REQ;
    return { ...base, headers: { ...HEADERS, "x-session-id": `run-${k % SESSIONS}` } };
  };
  const pool = loadPool(gw.url, 256);
  console.log(
    `agentgate soak — ${storage}, ${RATE} req/s for ${MINUTES} min, Node ${process.version}; RSS at start ${fmt(rssMb(pid), 1)} MB\n`,
  );
  console.log("| minute | RSS MB (min–max) | calls | p50 ms | p99 ms | max ms | errors |");
  console.log("| -----: | ---------------: | ----: | -----: | -----: | -----: | -----: |");
  const minuteRss: number[] = [];
  let calls = 0;
  let errors = 0;
  let offset = 0;
  for (let m = 1; m <= MINUTES; m++) {
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 5_000);
    const r = await openLoop(pool, (k) => request(offset + k), RATE, 60_000);
    clearInterval(sampler);
    samples.push(rssMb(pid));
    offset += r.scheduled;
    calls += r.ok;
    errors += r.errors;
    minuteRss.push(median(samples));
    console.log(
      `| ${m} | ${fmt(median(samples), 1)} (${fmt(Math.min(...samples), 1)}–${fmt(Math.max(...samples), 1)}) | ${r.ok} | ${fmt(r.latency.p50)} | ${fmt(r.latency.p99)} | ${fmt(r.latency.max)} | ${r.errors} |`,
    );
  }
  await pool.close();
  const half = Math.floor(MINUTES / 2);
  const xs = minuteRss.map((_, i) => i + 1).slice(half);
  const trend = slope(xs, minuteRss.slice(half));
  console.log(
    `\nRSS: ${fmt(minuteRss[0], 1)} MB in minute 1, ${fmt(minuteRss.at(-1), 1)} MB in minute ${MINUTES}; trend over minutes ${half + 1}–${MINUTES}: ${fmt(trend, 2)} MB/min`,
  );
  await gw.proc?.cpu(); // the gateway writes the events still queued before it answers
  console.log(`calls answered ${calls}, errors ${errors}; ${await gatewayEvents(gw)}`);
}

try {
  await main();
} finally {
  await cleanup();
}
