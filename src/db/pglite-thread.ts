/**
 * The embedded database on a thread of its own. PGlite is PostgreSQL compiled to WebAssembly and
 * runs synchronously on the thread that calls it: on the main thread, every event batch and every
 * admin or report query held the data plane's event loop for as long as it ran (most of a
 * millisecond per batch of 25 events: the PGlite gateway's p99 excess in docs/benchmarks.md).
 * Here a worker thread owns the PGlite instance, at a lower CPU priority than the data plane (see
 * `DATABASE_THREAD_PRIORITY`); the main thread holds a stand-in with the part of PGlite's API that
 * knex-pglite and agentgate use (`waitReady`, `query`, `listen`, `close`).
 *
 * Queries keep PGlite's semantics: one session, statements in the order they were sent (knex's
 * pool of one connection serializes transactions, as before). Errors come back with their
 * PostgreSQL fields (`code`, `detail`, ...). If the thread dies, every call in flight and every
 * later one fails, so the event recorder spools to disk instead of waiting forever.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// Plain CommonJS evaluated in the worker, so it runs the same from the TypeScript sources (tests)
// and from the compiled build, with no loader in the worker.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { PGlite } = require(workerData.pglite);
const db = new PGlite(workerData.dataDir);
try {
  // Linux: a thread's nice value is set through its thread id (elsewhere this is skipped). The
  // nice value first: it stays the fallback where SCHED_IDLE cannot be set (no chrt).
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  require("node:os").setPriority(tid, workerData.nice);
  if (workerData.idle)
    require("node:child_process").execFileSync("chrt", ["--idle", "--pid", "0", String(tid)], { stdio: "ignore", timeout: 5000 });
} catch {}
const unlisten = new Map();
const reply = (id, result) => parentPort.postMessage({ id, result });
parentPort.on("message", async (m) => {
  try {
    if (m.op === "ready") reply(m.id, await db.waitReady.then(() => null));
    else if (m.op === "query") reply(m.id, await db.query(m.sql, m.params, m.options));
    else if (m.op === "listen") {
      unlisten.set(m.listenId, await db.listen(m.channel, (payload) => parentPort.postMessage({ notify: m.listenId, payload })));
      reply(m.id, null);
    } else if (m.op === "unlisten") {
      await unlisten.get(m.listenId)?.();
      unlisten.delete(m.listenId);
      reply(m.id, null);
    } else if (m.op === "close") {
      await db.close();
      reply(m.id, null);
    }
  } catch (err) {
    const fields = err && typeof err === "object" ? { ...err } : {};
    parentPort.postMessage({ id: m.id, error: { ...fields, name: err?.name, message: String(err?.message ?? err) } });
  }
});
`;

/**
 * How the database thread yields the CPUs to the data plane (Linux). Event batches are background
 * work: when the CPUs of a small machine are busy, the data plane's threads should get them first,
 * and the batches wait a little and grow (a bigger batch costs less per row).
 *
 * `"idle"`, the default: the Linux SCHED_IDLE policy (set with util-linux's `chrt`, which needs no
 * privilege to lower a thread's policy), on top of nice 19. The scheduler then treats a CPU that
 * runs only this thread as free: a call waking up takes it at once instead of waiting behind a
 * batch, and neither the data plane's garbage-collector helpers nor the other processes on the
 * machine queue behind it. On a 2-CPU VM with nice 19 alone, 12–63% of the PGlite gateway's calls
 * above the p99 overlapped a batch write (3–5% of all calls did); with SCHED_IDLE, 3–22%, and the
 * added p99 fell from 1.38 to 0.97 ms (same-run A/B; docs/benchmarks.md, `BENCH_STALLS`).
 * Without `chrt` (or off Linux) the thread keeps nice 19.
 *
 * A number 0–19: that nice value alone, in the normal policy (`AGENTGATE_PGLITE_NICE`). At 19, a
 * batch that is running gives way to a call waking up (four same-run A/Bs against +5, either
 * order: added p99 1.34 vs 2.48 ms, 1.72 vs 2.20, 1.31 vs 2.47, 2.30 vs 2.32).
 *
 * The price of either: a thread that yields gets little CPU while the machine is saturated, so at
 * saturation events queue (then spool; none is lost) and admin or report queries wait until load
 * drops. Raising a nice value or moving to SCHED_IDLE needs no privilege; going back does, hence
 * a setting rather than a dynamic value.
 */
export type DatabaseThreadPriority = "idle" | number;
export const DATABASE_THREAD_PRIORITY: DatabaseThreadPriority = "idle";
/** The nice value under SCHED_IDLE, and where SCHED_IDLE cannot be set. */
export const DATABASE_THREAD_NICE = 19;

type Reply = { id: number; result?: unknown; error?: Record<string, unknown> & { message: string } };
type Notification = { notify: number; payload: string };
type Call = { resolve(v: unknown): void; reject(e: Error): void };

/** What the worker's PGlite answers to `query` (rows already parsed to JS values). */
export type QueryResult<T = Record<string, unknown>> = {
  rows: T[];
  fields: { name: string; dataTypeID: number }[];
  affectedRows?: number;
};

export class PGliteThread {
  readonly waitReady: Promise<void>;
  private readonly worker: Worker;
  private readonly calls = new Map<number, Call>();
  private readonly listeners = new Map<number, (payload: string) => void>();
  private nextId = 1;
  private dead: Error | null = null;

  /** `dataDir` undefined: an in-memory database. */
  constructor(dataDir: string | undefined, priority: DatabaseThreadPriority = DATABASE_THREAD_PRIORITY) {
    const pglite = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    const idle = priority === "idle";
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { pglite, dataDir, nice: idle ? DATABASE_THREAD_NICE : priority, idle },
    });
    // Only calls in flight keep the process alive (a CLI command exits when its work is done).
    this.worker.unref();
    this.worker.on("message", (m: Reply | Notification) => this.onMessage(m));
    this.worker.on("error", (err) => this.die(err));
    this.worker.on("exit", (code) =>
      this.die(new Error(`the embedded database thread exited (code ${code})`)),
    );
    this.waitReady = this.call({ op: "ready" }).then(() => undefined);
  }

  query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: unknown,
  ): Promise<QueryResult<T>> {
    return this.call({ op: "query", sql, params, options }) as Promise<QueryResult<T>>;
  }

  /** Calls `onNotify` with each notification's payload; resolves to the unsubscribe function. */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const id = this.nextId++;
    this.listeners.set(id, onNotify);
    try {
      await this.call({ op: "listen", channel, listenId: id });
    } catch (err) {
      this.listeners.delete(id);
      throw err;
    }
    return async () => {
      this.listeners.delete(id);
      if (!this.dead) await this.call({ op: "unlisten", listenId: id });
    };
  }

  async close(): Promise<void> {
    if (!this.dead) await this.call({ op: "close" });
    await this.worker.terminate();
  }

  private call(msg: Record<string, unknown>): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.calls.size === 0) this.worker.ref();
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  private onMessage(m: Reply | Notification): void {
    if ("notify" in m) {
      this.listeners.get(m.notify)?.(m.payload);
      return;
    }
    const call = this.calls.get(m.id);
    if (!call) return;
    this.calls.delete(m.id);
    if (this.calls.size === 0) this.worker.unref();
    if (m.error) call.reject(Object.assign(new Error(m.error.message), m.error));
    else call.resolve(m.result);
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }
}
