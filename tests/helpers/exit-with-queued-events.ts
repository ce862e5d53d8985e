/**
 * The "crashing gateway" of the event-exit suite: records events with a flush interval far too
 * long for any of them to be written, then dies the way `agentgate` does on a fatal error
 * (src/cli/index.ts: an uncaught exception ends in `process.exit`). Arguments: the spool
 * directory, then the request ids to record.
 */
import { openDb } from "../../src/db/knex.js";
import { EventRecorder } from "../../src/events/recorder.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { sampleEvent } from "./events.js";

const [spoolDir, ...ids] = process.argv.slice(2);
if (!spoolDir) throw new Error("usage: exit-with-queued-events.ts <spool dir> <request id>...");
const { db } = openDb({ databaseUrl: undefined, dataDir: spoolDir, inMemory: true });
const recorder = new EventRecorder(
  db,
  { spoolDir, flushIntervalMs: 60_000 },
  createMetrics(),
  createLogger("silent"),
);
recorder.start();
for (const id of ids) recorder.record(sampleEvent({ request_id: id }));

process.on("uncaughtException", () => process.exit(70));
setImmediate(() => {
  throw new Error("a bug nobody caught");
});
