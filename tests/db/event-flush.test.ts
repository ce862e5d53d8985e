/**
 * How the recorder's writer cuts the queue into statements (EventRecorder.flush): a flush writes
 * what was queued when it began, a few events arriving meanwhile wait for the next one, a full
 * batch's worth arriving meanwhile is taken at once, and a call's read-your-writes still holds
 * while a write is under way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DbHandle, openDb } from "../../src/db/knex.js";
import { migrateLatest } from "../../src/db/migrate.js";
import { EventRecorder, type InferenceEvent } from "../../src/events/recorder.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics, type Metrics } from "../../src/metrics.js";
import { sampleEvent } from "../helpers/events.js";

const log = createLogger("silent");

describe("event flushes", () => {
  let h: DbHandle;
  let spoolDir: string;
  let metrics: Metrics;
  let recorder: EventRecorder;
  /** Events per statement the recorder sent, read off the embedded database's connection. */
  let statements: number[] = [];
  beforeAll(async () => {
    h = openDb({ databaseUrl: undefined, dataDir: "", inMemory: true });
    await migrateLatest(h.db);
    const conn = h.pglite as NonNullable<DbHandle["pglite"]>;
    const query = conn.query.bind(conn);
    conn.query = ((sql: string, params?: unknown[], options?: unknown) => {
      if (sql.startsWith("INSERT INTO inference_events"))
        statements.push((JSON.parse(params?.[0] as string) as unknown[]).length);
      return query(sql, params, options as Parameters<typeof query>[2]);
    }) as typeof conn.query;
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    await recorder.drain();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  /** A recorder whose timer never fires: the test calls `flush` itself. */
  const start = (batchSize: number) => {
    spoolDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-flush-"));
    statements = [];
    metrics = createMetrics();
    recorder = new EventRecorder(h.db, { spoolDir, batchSize, flushIntervalMs: 3_600_000 }, metrics, log);
  };
  const value = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
  const record = (n: number) => {
    const events: InferenceEvent[] = Array.from({ length: n }, () => sampleEvent());
    for (const e of events) recorder.record(e);
    return events;
  };
  /** Records `before` events, starts a flush, records `during` more while it writes, waits for it. */
  const recordDuringWrite = async (before: number, during: number) => {
    const first = record(before);
    const writing = recorder.flush();
    const later = record(during);
    await writing;
    return { first, later };
  };
  const stored = async (events: InferenceEvent[]) =>
    Number(
      (
        await h
          .db("inference_events")
          .whereIn(
            "request_id",
            events.map((e) => e.request_id),
          )
          .count({ n: "*" })
      )[0]?.n,
    );

  it("writes what was queued when it began; a few events arriving during the write wait for the next flush", async () => {
    start(10);
    const { first, later } = await recordDuringWrite(4, 3);
    expect(statements).toEqual([4]);
    expect(await value("agentgate_event_batches_total")).toBe(1);
    expect(await stored(first)).toBe(4);
    expect(await stored(later)).toBe(0);
    expect(await value("agentgate_events_queue_depth")).toBe(3);
    await recorder.flush();
    expect(statements).toEqual([4, 3]);
    expect(await value("agentgate_event_batches_total")).toBe(2);
    expect(await stored(later)).toBe(3);
  });

  it("takes a full batch's worth that arrived during the write at once, in equal parts", async () => {
    start(10);
    const { first, later } = await recordDuringWrite(4, 12);
    // 4, then 12 as two statements of 6 (not 10 and 2).
    expect(statements).toEqual([4, 6, 6]);
    expect(await value("agentgate_event_batches_total")).toBe(3);
    expect(await stored([...first, ...later])).toBe(16);
    expect(await value("agentgate_events_queue_depth")).toBe(0);
    expect(await value("agentgate_events_written_total")).toBe(16);
  });

  it("writes a longer queue in equal statements of at most the batch size", async () => {
    start(10);
    const events = record(25);
    await recorder.flush();
    expect(statements).toEqual([9, 8, 8]);
    expect(await value("agentgate_event_batches_total")).toBe(3);
    expect(await stored(events)).toBe(25);
  });

  it("a flush called during a write covers the events queued by then (read-your-writes)", async () => {
    start(10);
    record(4);
    const writing = recorder.flush();
    const [mine] = record(1) as [InferenceEvent];
    await recorder.settle({ requestId: mine.request_id });
    expect(await stored([mine])).toBe(1);
    await writing;
    expect(statements).toEqual([4, 1]);
    expect(await value("agentgate_event_batches_total")).toBe(2);
  });
});
