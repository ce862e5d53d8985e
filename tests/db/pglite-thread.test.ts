/**
 * The embedded database on its own thread: same answers and errors as PGlite in process,
 * notifications delivered, the main thread free while a query runs, and a dead thread failing
 * calls instead of hanging them.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/knex.js";
import { DATABASE_THREAD_NICE, DATABASE_THREAD_PRIORITY, PGliteThread } from "../../src/db/pglite-thread.js";
import { sqlStateOf } from "../../src/errors.js";

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

describe("PGliteThread", () => {
  const open: PGliteThread[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
  });
  const start = () => {
    const db = new PGliteThread(undefined);
    open.push(db);
    return db;
  };

  it("answers queries with parsed values and keeps one session", async () => {
    const db = start();
    await db.waitReady;
    const r = await db.query<{ n: number; t: Date; j: { a: number[] } }>(
      "SELECT $1::int AS n, '2026-11-25T10:00:00Z'::timestamptz AS t, '{\"a\":[1,2]}'::jsonb AS j",
      [41],
    );
    expect(r.rows).toEqual([{ n: 41, t: new Date("2026-11-25T10:00:00Z"), j: { a: [1, 2] } }]);
    await db.query("CREATE TEMP TABLE t (x int)");
    await db.query("BEGIN");
    await db.query("INSERT INTO t VALUES (1), (2)");
    await db.query("COMMIT");
    expect((await db.query("SELECT count(*)::int AS n FROM t")).rows).toEqual([{ n: 2 }]);
  });

  it.runIf(process.platform === "linux")("runs at a lower CPU priority than the data plane", async () => {
    // Fields 19 and 41 of /proc/<pid>/task/<tid>/stat: the thread's nice value and its
    // scheduling policy (0 normal, 5 SCHED_IDLE).
    const threads = (nice: number, policy: number) =>
      readdirSync("/proc/self/task").filter((tid) => {
        const fields = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]?.split(" ");
        return Number(fields?.[16]) === nice && Number(fields?.[38]) === policy;
      }).length;
    // SCHED_IDLE is set with util-linux's chrt; without it the thread keeps nice 19 alone.
    const hasChrt = (process.env.PATH ?? "").split(":").some((dir) => existsSync(path.join(dir, "chrt")));
    const policy = hasChrt ? SCHED_IDLE : SCHED_OTHER;
    const before = threads(DATABASE_THREAD_NICE, policy);
    const db = start();
    await db.waitReady;
    expect(DATABASE_THREAD_PRIORITY).toBe("idle");
    expect(DATABASE_THREAD_NICE).toBe(19);
    expect(threads(DATABASE_THREAD_NICE, policy)).toBe(before + 1);
    expect(os.getPriority()).toBe(0);
    // AGENTGATE_PGLITE_NICE's way in: a nice value alone, in the normal policy.
    const beforeTen = threads(10, SCHED_OTHER);
    const other = new PGliteThread(undefined, 10);
    open.push(other);
    await other.waitReady;
    expect(threads(10, SCHED_OTHER)).toBe(beforeTen + 1);
  });

  it("rejects with the PostgreSQL error fields, and goes on working", async () => {
    const db = start();
    await db.query("CREATE TABLE u (id int PRIMARY KEY)");
    await db.query("INSERT INTO u VALUES (1)");
    const err = await db.query("INSERT INTO u VALUES (1)").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(sqlStateOf(err)).toBe("23505");
    expect((err as Error).message).toMatch(/duplicate key/);
    expect((await db.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });

  it("delivers notifications until unsubscribed", async () => {
    const db = start();
    const got: string[] = [];
    const unsubscribe = await db.listen("chan", (p) => got.push(p));
    await db.query("SELECT pg_notify('chan', 'one')");
    await expect.poll(() => got).toEqual(["one"]);
    await unsubscribe();
    await db.query("SELECT pg_notify('chan', 'two')");
    await db.query("SELECT 1");
    expect(got).toEqual(["one"]);
  });

  it("leaves the main thread free while a query runs", async () => {
    const db = start();
    await db.waitReady;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    await db.query("SELECT count(*) FROM generate_series(1, 3000000)");
    const ms = performance.now() - t0;
    clearInterval(timer);
    // On the calling thread the timer could not have fired once during the query.
    expect(ms).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 5 / 3));
  });

  it("fails calls in flight and later ones once the thread is gone", async () => {
    const db = new PGliteThread(undefined);
    await db.waitReady;
    const inFlight = db.query("SELECT count(*) FROM generate_series(1, 3000000)");
    await (db as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(inFlight).rejects.toThrow(/embedded database thread exited/);
    await expect(db.query("SELECT 1")).rejects.toThrow(/embedded database thread exited/);
    await db.close();
  });

  it("keeps data in its directory across a restart, through knex", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-pglite-thread-"));
    try {
      const a = openDb({ databaseUrl: undefined, dataDir: dir });
      await a.db.raw("CREATE TABLE kept (v text)");
      await a.db("kept").insert({ v: "still here" });
      await a.close();
      const b = openDb({ databaseUrl: undefined, dataDir: dir });
      expect(await b.db("kept").pluck("v")).toEqual(["still here"]);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
