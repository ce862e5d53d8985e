/**
 * `npm run bench:events`: what writing inference events costs per row, by batch size, through the
 * gateway's own event recorder (the statement it runs, on the embedded PGlite thread and on
 * PostgreSQL). The recorder writes whatever queued during `AGENTGATE_EVENT_FLUSH_MS` as one batch,
 * so this is the table behind that setting's defaults (docs/benchmarks.md). For each batch size it
 * records the events, flushes, and reads the CPU clocks:
 *   - PGlite: this process (the database thread included; the bench does nothing else meanwhile);
 *   - PostgreSQL: this process (the gateway's share: serializing and sending) and the backend.
 * Also reports the sustained rate into PostgreSQL at the largest batch (DESIGN.md: ≥ 5,000 events/s).
 *
 * Then, on PostgreSQL, what the kind of request id costs once the table is large: the same
 * writes into a table already holding BENCH_EVENT_STORED events, with random ids (UUIDv4, what
 * the gateway made before) and with the gateway's time-ordered ids (UUIDv7, src/gateway/request-id.ts),
 * taking turns over BENCH_EVENT_ID_ROUNDS rounds.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Knex } from "knex";
import { openDb } from "../src/db/knex.js";
import { migrateLatest } from "../src/db/migrate.js";
import { EventRecorder, type InferenceEvent } from "../src/events/recorder.js";
import { newRequestId } from "../src/gateway/request-id.js";
import { createLogger } from "../src/logger.js";
import { createMetrics } from "../src/metrics.js";
import { type BenchDatabase, createBenchDatabase, postgresOrSkip } from "./postgres.js";

const SIZES = [1, 5, 25, 100, 500];
const ROWS = Number(process.env.BENCH_EVENT_ROWS ?? 10_000);
const STORED = Number(process.env.BENCH_EVENT_STORED ?? 3_000_000);
const ID_ROUNDS = Number(process.env.BENCH_EVENT_ID_ROUNDS ?? 2);

/** A successful non-streamed champion call, as the gateway records it. */
function event(requestId: () => string = newRequestId): InferenceEvent {
  return {
    request_id: requestId(),
    at: new Date().toISOString(),
    system: "bench",
    agent: "chat",
    agent_id: 1,
    route: "champion",
    experiment_id: null,
    arm: null,
    assigned_version: 1,
    served_version: 1,
    served_model: "gpt-4o-mini",
    upstream: "bench-upstream",
    fallback: false,
    stream: false,
    status: 200,
    error_class: null,
    session_id: null,
    user_id: null,
    unit_key: null,
    latency_ms: 1.234,
    upstream_ms: 0.987,
    ttft_ms: null,
    prompt_tokens: 61,
    completion_tokens: 9,
    cached_tokens: 0,
    cost_usd: 0.0000146,
  };
}

type Row = { size: number; gatewayUs: number; backendUs: number | null; eventsPerS: number };

/**
 * Writes `rows` events through `recorder` in batches of `size`, after a warm-up (the statement
 * planned, on PostgreSQL prepared, and the code compiled): CPU per event of this process and of
 * the backend, and the rate.
 */
async function timedWrites(
  recorder: EventRecorder,
  size: number,
  rows: number,
  /** null on PGlite: the database is this process's own thread. */
  backendCpuUs: (() => Promise<number>) | null,
  requestId: () => string = newRequestId,
): Promise<Omit<Row, "size">> {
  for (let i = 0; i < size * 2; i++) recorder.record(event(requestId));
  await recorder.flush();
  const cpu0 = process.cpuUsage();
  const backend0 = (await backendCpuUs?.()) ?? 0;
  const t0 = performance.now();
  for (let done = 0; done < rows; done += size) {
    for (let i = 0; i < size; i++) recorder.record(event(requestId));
    await recorder.flush();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const backendUs = backendCpuUs ? ((await backendCpuUs()) - backend0) / rows : null;
  if (recorder.pending > 0) throw new Error("events spooled; the database refused them");
  await recorder.drain();
  return { gatewayUs: (cpu.user + cpu.system) / rows, backendUs, eventsPerS: rows / seconds };
}

/** CPU time (µs) of all of `db`'s backends. */
const backendTotal = (db: BenchDatabase) => async () =>
  [...(await db.backendCpuUs()).values()].reduce((a, b) => a + b, 0);

async function measure(
  url: string | undefined,
  backendCpuUs: (() => Promise<number>) | null,
): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "agentgate-bench-events-"));
  const handle = openDb({ databaseUrl: url, dataDir: dir });
  try {
    await migrateLatest(handle.db);
    const out: Row[] = [];
    for (const size of SIZES) {
      const recorder = new EventRecorder(
        handle.db,
        { spoolDir: path.join(dir, "spool"), batchSize: size },
        createMetrics(),
        createLogger("warn"),
      );
      const rows = Math.max(size, Math.min(ROWS, size * 400));
      out.push({ size, ...(await timedWrites(recorder, size, rows, backendCpuUs)) });
    }
    return out;
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(title: string, rows: Row[]): void {
  console.log(`\n${title}\n`);
  console.log("| batch | gateway CPU µs/event | database backend CPU µs/event | events/s, one writer |");
  console.log("| ----: | -------------------: | ----------------------------: | -------------------: |");
  for (const r of rows) {
    const backend = r.backendUs === null ? "(in the gateway)" : r.backendUs.toFixed(1);
    console.log(
      `| ${r.size} | ${r.gatewayUs.toFixed(1)} | ${backend} | ${Math.round(r.eventsPerS).toLocaleString("en")} |`,
    );
  }
}

/** The time-ordered ids of `stored` past calls, one per millisecond, ending now (as SQL). */
const v7Sql = (
  stored: number,
) => `(SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(h, 14, 3) || '-'
   || substr('89ab', 1 + (get_byte(decode(substr(h, 17, 2), 'hex'), 0) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)
   FROM (SELECT lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint - ${stored} + g), 12, '0')
                || md5(random()::text) AS h) x)`;
const ID_KINDS = {
  "random (UUIDv4)": { make: randomUUID, sql: () => "gen_random_uuid()::text" },
  "time-ordered (UUIDv7)": { make: newRequestId, sql: v7Sql },
} as const;

/** Backend and gateway CPU per event, 100-event batches, into a table holding `STORED` events. */
async function measureIds(kind: keyof typeof ID_KINDS): Promise<{ gatewayUs: number; backendUs: number }> {
  const db = await createBenchDatabase();
  const dir = mkdtempSync(path.join(tmpdir(), "agentgate-bench-ids-"));
  const handle = openDb({ databaseUrl: db.url, dataDir: dir });
  try {
    await migrateLatest(handle.db);
    await prefill(handle.db, ID_KINDS[kind].sql(STORED));
    const recorder = new EventRecorder(
      handle.db,
      { spoolDir: path.join(dir, "spool"), batchSize: 100 },
      createMetrics(),
      createLogger("warn"),
    );
    const r = await timedWrites(recorder, 100, ROWS * 5, backendTotal(db), ID_KINDS[kind].make);
    return { gatewayUs: r.gatewayUs, backendUs: r.backendUs as number };
  } finally {
    await handle.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `STORED` past events, as the gateway writes them (a session each), in one statement. */
async function prefill(db: Knex, idSql: string): Promise<void> {
  await db.raw(
    `INSERT INTO inference_events (request_id, at, system, agent, agent_id, route, status, session_id, latency_ms)
     SELECT ${idSql}, now() - (? - g) * interval '1 millisecond', 'bench', 'chat', 1, 'champion', 200,
            md5(g::text), 1.5
       FROM generate_series(1, ?) g`,
    [STORED, STORED],
  );
  await db.raw("VACUUM ANALYZE inference_events");
}

async function main(): Promise<void> {
  console.log(`agentgate event-batch bench — Node ${process.version}, up to ${ROWS} events per batch size`);
  print("PGlite (embedded, its own thread):", await measure(undefined, null));
  if (!(await postgresOrSkip())) return;
  const db = await createBenchDatabase();
  try {
    print("PostgreSQL (127.0.0.1, same machine):", await measure(db.url, backendTotal(db)));
  } finally {
    await db.drop();
  }
  console.log(
    `\nPostgreSQL, request ids, ${(ROWS * 5).toLocaleString("en")} events in batches of 100 into a table holding ${STORED.toLocaleString("en")}:\n`,
  );
  console.log("| round | request ids | gateway CPU µs/event | database backend CPU µs/event |");
  console.log("| ----: | ----------- | -------------------: | ----------------------------: |");
  for (let round = 1; round <= ID_ROUNDS; round++) {
    const kinds = Object.keys(ID_KINDS) as (keyof typeof ID_KINDS)[];
    if (round % 2 === 0) kinds.reverse();
    for (const kind of kinds) {
      const r = await measureIds(kind);
      console.log(`| ${round} | ${kind} | ${r.gatewayUs.toFixed(1)} | ${r.backendUs.toFixed(1)} |`);
    }
  }
}

await main();
