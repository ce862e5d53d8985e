/**
 * `npm run bench:events`: what writing inference events costs per row, by batch size, through the
 * gateway's own event recorder (the statement it runs, on the embedded PGlite thread and on
 * PostgreSQL). The recorder writes whatever queued during `AGENTGATE_EVENT_FLUSH_MS` as one batch,
 * so this is the table behind that setting's defaults (docs/benchmarks.md). For each batch size it
 * records the events, flushes, and reads the CPU clocks:
 *   - PGlite: this process (the database thread included; the bench does nothing else meanwhile);
 *   - PostgreSQL: this process (the gateway's share: serializing and sending) and the backend.
 * Also reports the sustained rate into PostgreSQL at the largest batch (DESIGN.md: ≥ 5,000 events/s).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDb } from "../src/db/knex.js";
import { migrateLatest } from "../src/db/migrate.js";
import { EventRecorder, type InferenceEvent } from "../src/events/recorder.js";
import { createLogger } from "../src/logger.js";
import { createMetrics } from "../src/metrics.js";
import { createBenchDatabase, postgresOrSkip } from "./postgres.js";

const SIZES = [1, 5, 25, 100, 500];
const ROWS = Number(process.env.BENCH_EVENT_ROWS ?? 10_000);

/** A successful non-streamed champion call, as the gateway records it. */
function event(): InferenceEvent {
  return {
    request_id: randomUUID(),
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

async function measure(
  storage: "pglite" | "postgres",
  url: string | undefined,
  backendCpuUs: () => Promise<number>,
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
      // Warm-up: the statement planned (PostgreSQL: prepared) and the code compiled.
      for (let i = 0; i < size * 2; i++) recorder.record(event());
      await recorder.flush();
      const rows = Math.max(size, Math.min(ROWS, size * 400));
      const cpu0 = process.cpuUsage();
      const backend0 = await backendCpuUs();
      const t0 = performance.now();
      for (let done = 0; done < rows; done += size) {
        for (let i = 0; i < size; i++) recorder.record(event());
        await recorder.flush();
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const backend = storage === "postgres" ? ((await backendCpuUs()) - backend0) / rows : null;
      if (recorder.pending > 0) throw new Error(`${storage}: events spooled; the database refused them`);
      await recorder.drain();
      out.push({
        size,
        gatewayUs: (cpu.user + cpu.system) / rows,
        backendUs: backend,
        eventsPerS: rows / seconds,
      });
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

async function main(): Promise<void> {
  console.log(`agentgate event-batch bench — Node ${process.version}, up to ${ROWS} events per batch size`);
  print("PGlite (embedded, its own thread):", await measure("pglite", undefined, async () => 0));
  if (!(await postgresOrSkip())) return;
  const db = await createBenchDatabase();
  try {
    const sum = async () => [...(await db.backendCpuUs()).values()].reduce((a, b) => a + b, 0);
    print("PostgreSQL (127.0.0.1, same machine):", await measure("postgres", db.url, sum));
  } finally {
    await db.drop();
  }
}

await main();
