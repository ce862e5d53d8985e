/**
 * Events still in memory when the process exits without a drain (a fatal error ends in
 * `process.exit`; a second SIGTERM or the stop deadline too) go to the spool file on the way out,
 * and the next start replays them: queued events, and a batch whose write had not settled.
 */

import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbHandle, openDb } from "../../src/db/knex.js";
import { migrateLatest } from "../../src/db/migrate.js";
import { EventRecorder, type InferenceEvent } from "../../src/events/recorder.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { sampleEvent } from "../helpers/events.js";
import { spawnTsx, stopAllChildren } from "../helpers/gateway-process.js";

const log = createLogger("silent");

const spooledIds = (dir: string) =>
  readdirSync(dir)
    .flatMap((f) => readFileSync(path.join(dir, f), "utf8").split("\n"))
    .filter((line) => line !== "")
    .map((line) => (JSON.parse(line) as InferenceEvent).request_id);

describe("events in memory at exit", () => {
  let h: DbHandle;
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-exit-"));
    dirs.push(dir);
    return dir;
  };
  const storedIds = async (ids: string[]) =>
    (await h.db("inference_events").whereIn("request_id", ids).pluck("request_id")).sort();

  beforeAll(async () => {
    h = openDb({ databaseUrl: undefined, dataDir: "", inMemory: true });
    await migrateLatest(h.db);
  });
  afterAll(async () => {
    stopAllChildren();
    await h?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("a process that dies on a fatal error spools its queued events, and the next start stores each once", {
    timeout: 30_000,
  }, async () => {
    const spoolDir = tempDir();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const run = spawnTsx("tests/helpers/exit-with-queued-events.ts", {}, undefined, [spoolDir, ...ids]);
    const exit = await run.exited;
    expect(exit.code, run.stderr()).toBe(70);
    expect(spooledIds(spoolDir).sort()).toEqual([...ids].sort());

    const recorder = new EventRecorder(h.db, { spoolDir }, createMetrics(), log);
    await recorder.replay();
    expect(await storedIds(ids)).toEqual([...ids].sort());
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it("spools a batch whose write had not settled along with the queue; replaying stores each event once", async () => {
    const spoolDir = tempDir();
    const recorder = new EventRecorder(h.db, { spoolDir, batchSize: 2 }, createMetrics(), log);
    const events = [sampleEvent(), sampleEvent(), sampleEvent()];
    const ids = events.map((e) => e.request_id);
    for (const e of events) recorder.record(e);
    // The first batch (two events) is on its way to the database when the process "exits".
    const writing = recorder.flush();
    recorder.spoolUnwrittenSync();
    expect(spooledIds(spoolDir).sort()).toEqual([...ids].sort());
    await writing;
    // That write did commit, and the writer did not go on to the queue the exit took.
    expect(await storedIds(ids)).toEqual(ids.slice(0, 2).sort());
    recorder.spoolUnwrittenSync();
    expect(spooledIds(spoolDir).length).toBe(3);
    await recorder.replay();
    expect(await storedIds(ids)).toEqual([...ids].sort());
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});
