/**
 * The event recorder: one inference event per proxied call, written off the request path.
 *
 * `record()` only pushes onto an in-memory queue. A single writer loop drains the queue in
 * batches into the database (`ON CONFLICT (request_id) DO NOTHING`, so a batch written twice is
 * harmless). When a batch cannot be written, it is appended to a spool file in the data
 * directory and the writer sends everything to disk for a short while; a replay loop moves the
 * spool back into the database once it answers again. Shutdown drains the queue. A batch the
 * database refuses as data (one value it cannot store) is not a database outage: it is written
 * event by event instead (src/events/write.ts), so it can hold back neither its batch nor the
 * spool. An event is lost only if the disk itself fails, if the database refuses it even with
 * its text made storable (`events_dropped_total` counts both), or if the process is killed
 * outright (SIGKILL) with events still in memory: an exit without a drain spools them first.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { appendFile, readdir, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { Knex } from "knex";
import type { Logger } from "pino";
import type { CaptureRecord } from "../capture/capture.js";
import type { Metrics } from "../metrics.js";
import { insertEvents, type QueuedEvent, queued, spoolLine } from "./write.js";

export type InferenceEvent = {
  request_id: string;
  at: string;
  system: string;
  agent: string;
  agent_id: number | null;
  route: string | null;
  experiment_id: number | null;
  arm: string | null;
  assigned_version: number | null;
  served_version: number | null;
  served_model: string | null;
  upstream: string | null;
  fallback: boolean;
  stream: boolean;
  status: number;
  error_class: string | null;
  session_id: string | null;
  user_id: string | null;
  unit_key: string | null;
  latency_ms: number | null;
  upstream_ms: number | null;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cached_tokens: number | null;
  cost_usd: number | null;
  /**
   * The call's captured messages and answer, for agents that capture (already redacted and cut);
   * written to `captures` in the same transaction as the event, and spooled with it.
   */
  capture?: CaptureRecord;
};

export type RecorderOptions = {
  spoolDir: string;
  batchSize?: number;
  flushIntervalMs?: number;
  /** Beyond this many queued events, new ones go straight to the spool file. */
  maxQueue?: number;
  /** After a failed write, how long to spool without trying the database again. */
  retryAfterMs?: number;
  /** How often to look for spooled events to move into the database. */
  replayIntervalMs?: number;
};

const SPOOL_PREFIX = "events-";

/**
 * How long events wait in the queue before being written as one batch, by storage. A statement
 * costs a fixed amount whatever its size, so longer waits mean bigger, cheaper batches; the price
 * is how soon a call shows in the reports and on other replicas (the replica that answered a call
 * writes its event on demand: `settle`), and how many events a kill that runs no code can lose. On
 * PGlite a statement's fixed cost is ~0.7 ms of the gateway's own CPU when measured alone
 * (WebAssembly, in process; ~2–3 ms inside a loaded gateway) against ~25 µs a row: 500 ms instead
 * of 100 took ~18% off the PGlite gateway's CPU per call at 1,000 calls/s (docs/benchmarks.md).
 * Native PostgreSQL spends a statement's cost in its own backend, and still each commit costs:
 * 100 ms instead of 25 halved the backend's CPU per event at 1,000 calls/s (22–25 against 42–47
 * µs) and took 10% off the gateway's own (two same-run A/Bs, either order; docs/benchmarks.md),
 * for at most 100 ms of events that a kill running no code can lose.
 */
export function defaultEventFlushMs(storage: "postgres" | "pglite"): number {
  return storage === "pglite" ? 500 : 100;
}

/**
 * The most events one statement writes, by storage (a longer queue is written in equal parts).
 * It sits above what one flush interval gathers at 1,000 calls/s (100 on PostgreSQL), so such a
 * load writes one statement per interval: with a cap of 100, every other interval held 101–110
 * events and wrote a second, tiny statement. The cap still bounds a statement's JSON text (~700
 * bytes an event) when the writer falls behind: at saturation, batches of up to 500 on PostgreSQL
 * put the gateway's throughput at 47–49% of the bare proxy's against 56% with 100 (Node 24, when
 * each batch was turned into JSON at once; docs/benchmarks.md). On PGlite a statement's fixed
 * cost dominates, so it takes the whole 500 ms worth it waits for, up to 500.
 */
export function defaultEventBatchSize(storage: "postgres" | "pglite"): number {
  return storage === "pglite" ? 500 : 250;
}

export class EventRecorder {
  private queue: QueuedEvent[] = [];
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly retryAfterMs: number;
  private readonly flushIntervalMs: number;
  private dbDownUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private replayTimer: NodeJS.Timeout | undefined;
  private readonly replayIntervalMs: number;
  private writing: Promise<void> | undefined;
  /** How many events at the head of the queue the pass under way must still take (see `flush`). */
  private owed = 0;
  private replaying: Promise<void> | undefined;
  private spoolFile: string;
  private spoolPending = 0;
  private stopped = false;
  /** The batch being written (to the database or the spool), until the write has settled. */
  private inFlight: QueuedEvent[] | null = null;

  constructor(
    private readonly db: Knex,
    private readonly opts: RecorderOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.maxQueue = opts.maxQueue ?? 50_000;
    this.retryAfterMs = opts.retryAfterMs ?? 1_000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.replayIntervalMs = opts.replayIntervalMs ?? 500;
    mkdirSync(opts.spoolDir, { recursive: true });
    this.spoolFile = this.newSpoolFile();
  }

  /** Never throws and never waits: the request path calls it. */
  record(event: InferenceEvent): void {
    const q = queued(event);
    if (this.queue.length >= this.maxQueue || this.stopped) {
      this.spoolSync([q]);
      return;
    }
    this.queue.push(q);
    this.metrics.eventsQueueDepth.set(this.queue.length);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
    this.replayTimer = setInterval(() => void this.replay(), this.replayIntervalMs);
    this.replayTimer.unref();
    live.add(this);
    hookExit();
    void this.replay();
  }

  /** Writes everything queued (to the database, or to the spool) and stops the loops. */
  async drain(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.replayTimer) clearInterval(this.replayTimer);
    while (this.queue.length > 0 || this.writing) await this.flush();
    await this.replaying;
    this.stopped = true;
    live.delete(this);
  }

  /**
   * The process is exiting without a drain (`process.exit` after a fatal error, say): whatever
   * is still in memory — queued, or in a write that may not have committed — goes to the spool
   * file synchronously, and the next start replays it (a batch that did commit is stored once:
   * replays are idempotent). Only a kill that runs no code (SIGKILL, the OOM killer) can still
   * lose the events of the last flush interval.
   */
  spoolUnwrittenSync(): void {
    const events = this.inFlight ? [...this.inFlight, ...this.queue] : this.queue;
    this.queue = [];
    this.owed = 0;
    this.inFlight = null;
    if (events.length > 0) this.spoolSync(events);
  }

  /**
   * Read-your-writes for the admin API: when this process still holds the event of `target` (a
   * call's request id, or any call of a session) in its queue or in a write under way, writes it
   * now instead of at the next flush. Resolves at once when it holds none.
   */
  async settle(target: { requestId?: string | null; sessionId?: string | null }): Promise<void> {
    const held = (e: QueuedEvent) =>
      (target.requestId != null && e.requestId === target.requestId) ||
      (target.sessionId != null && e.sessionId === target.sessionId);
    if (this.queue.some(held) || this.inFlight?.some(held)) await this.flush();
  }

  /** Events on disk waiting for the database. */
  get pending(): number {
    return this.spoolPending;
  }

  /**
   * Writes every event queued now; resolves once they are in the database or the spool. One
   * writer at a time, so batches reach the spool in order: a call while a write is under way
   * extends it to what is queued by then. A few events that arrive while it writes wait for the
   * next flush: a writer that chased them wrote one small statement after each full one, most of
   * its statements (24 a second instead of 10 on PostgreSQL at 1,000 calls/s, each at a
   * statement's fixed cost). A full batch's worth (a writer falling behind, at saturation) is
   * taken at once: left waiting, those events outlived two scavenges and filled V8's old
   * generation (PGlite, whose writes wait for idle CPUs). More than `batchSize` events are written
   * in equal parts, not a full batch and a remainder.
   */
  flush(): Promise<void> {
    this.owed = this.queue.length;
    this.writing ??= this.writeBatches().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  private async writeBatches(): Promise<void> {
    for (;;) {
      // A full batch's worth queued meanwhile (a writer falling behind) is taken at once.
      if (this.queue.length >= this.batchSize) this.owed = this.queue.length;
      if (this.owed <= 0 || this.queue.length === 0) break;
      const size = Math.ceil(this.owed / Math.ceil(this.owed / this.batchSize));
      const batch = this.queue.splice(0, size);
      this.owed -= batch.length;
      this.metrics.eventsQueueDepth.set(this.queue.length);
      this.inFlight = batch;
      try {
        await this.writeBatch(batch);
      } finally {
        this.inFlight = null;
      }
    }
  }

  private async writeBatch(batch: QueuedEvent[]): Promise<void> {
    if (Date.now() >= this.dbDownUntil) {
      try {
        this.countWritten(batch.length, await insertEvents(this.db, batch, this.log));
        this.metrics.eventBatchesTotal.inc();
        return;
      } catch (err) {
        this.dbDownUntil = Date.now() + this.retryAfterMs;
        this.log.warn({ err: String(err), events: batch.length }, "event write failed; spooling to disk");
      }
    }
    await this.spool(batch);
  }

  private async spool(batch: QueuedEvent[]): Promise<void> {
    try {
      await appendFile(this.spoolFile, toLines(batch));
      this.countSpooled(batch.length);
    } catch (err) {
      this.log.error({ err: String(err), events: batch.length }, "event spool write failed; events lost");
      this.metrics.eventsDroppedTotal.inc(batch.length);
    }
  }

  private spoolSync(batch: QueuedEvent[]): void {
    try {
      appendFileSync(this.spoolFile, toLines(batch));
      this.countSpooled(batch.length);
    } catch (err) {
      this.log.error({ err: String(err) }, "event spool write failed; event lost");
      this.metrics.eventsDroppedTotal.inc(batch.length);
    }
  }

  /** Of `n` events sent, all were written but `refused` (left out as data the database refused). */
  private countWritten(n: number, refused: number): void {
    this.metrics.eventsWrittenTotal.inc(n - refused);
    if (refused > 0) this.metrics.eventsDroppedTotal.inc(refused);
  }

  private countSpooled(n: number): void {
    this.spoolPending += n;
    this.metrics.eventsSpooledTotal.inc(n);
    this.metrics.eventsSpoolPending.set(this.spoolPending);
  }

  /**
   * Moves spool files into the database. The active file is renamed first, so events spooled
   * meanwhile go to a fresh file; a crash mid-replay leaves a `.replaying` file that the next
   * replay picks up, and the unique request id makes re-inserting harmless.
   */
  replay(): Promise<void> {
    this.replaying ??= this.replayFiles().finally(() => {
      this.replaying = undefined;
    });
    return this.replaying;
  }

  private async replayFiles(): Promise<void> {
    if (Date.now() < this.dbDownUntil) return;
    const files = (await readdir(this.opts.spoolDir)).filter((f) => f.startsWith(SPOOL_PREFIX)).sort();
    if (files.length === 0) return;
    try {
      await this.db.raw("select 1");
    } catch {
      this.dbDownUntil = Date.now() + this.retryAfterMs;
      return;
    }
    for (const name of files) {
      let file = path.join(this.opts.spoolDir, name);
      if (file === this.spoolFile) {
        this.spoolFile = this.newSpoolFile();
        const target = `${file}.replaying`;
        // Wait for an in-flight append to the old file before moving it.
        await this.writing;
        await rename(file, target);
        file = target;
      }
      const events = (await readFile(file, "utf8"))
        .split("\n")
        .filter((line) => line.trim() !== "")
        .flatMap((line) => {
          try {
            return [queued(JSON.parse(line) as InferenceEvent)];
          } catch {
            // A line torn by a crash mid-append: nothing to recover from it.
            this.log.error({ file }, "unreadable spool line skipped");
            return [];
          }
        });
      let refused = 0;
      try {
        for (let i = 0; i < events.length; i += this.batchSize) {
          refused += await insertEvents(this.db, events.slice(i, i + this.batchSize), this.log);
          this.metrics.eventBatchesTotal.inc();
        }
      } catch (err) {
        this.dbDownUntil = Date.now() + this.retryAfterMs;
        this.log.warn({ err: String(err) }, "spool replay failed; will retry");
        return;
      }
      await unlink(file);
      this.countWritten(events.length, refused);
      this.spoolPending = Math.max(0, this.spoolPending - events.length);
      this.metrics.eventsSpoolPending.set(this.spoolPending);
      this.log.info({ events: events.length }, "replayed spooled events into the database");
    }
  }

  private newSpoolFile(): string {
    return path.join(this.opts.spoolDir, `${SPOOL_PREFIX}${Date.now()}-${process.pid}.jsonl`);
  }
}

/** Recorders started and not drained: an exiting process spools what they still hold. */
const live = new Set<EventRecorder>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // `exit` listeners run synchronously, on `process.exit()` and on a natural end alike.
  process.on("exit", () => {
    for (const r of live) r.spoolUnwrittenSync();
  });
}

const toLines = (events: QueuedEvent[]) => `${events.map(spoolLine).join("\n")}\n`;
