/**
 * Writing a batch of inference events (and their captures) to the database: the statements the
 * recorder runs. Every path is idempotent on the request id, so a batch written twice (a replay
 * after a write whose answer was lost) stores each event once.
 */
import { setImmediate } from "node:timers/promises";
import type { Knex } from "knex";
import type { Logger } from "pino";
import type { CaptureRecord } from "../capture/capture.js";
import { withConnection } from "../db/knex.js";
import { PGliteThread } from "../db/pglite-thread.js";
import { storable } from "../db/storable.js";
import { sqlStateOf } from "../errors.js";
import type { InferenceEvent } from "./recorder.js";

/**
 * Writes a batch; resolves to the number of events the database refused as data and that were
 * left out (counted as dropped by the recorder; 0 unless something unforeseen got through).
 * Any other failure rejects, and the recorder spools the whole batch.
 */
export async function insertEvents(db: Knex, events: InferenceEvent[], log: Logger): Promise<number> {
  if (events.length === 0) return 0;
  try {
    await insertBatch(db, events, log);
    return 0;
  } catch (err) {
    if (!isDataError(err)) throw err;
    log.warn(
      { err: String(err), events: events.length },
      "event batch refused as data; writing it event by event",
    );
  }
  // One value the database cannot take must not hold back its whole batch, nor the spool behind
  // it: each event is written on its own, a refused one again with its text made storable, and
  // only one refused even then is left out.
  let refused = 0;
  for (const event of events) {
    try {
      await insertBatch(db, [event], log);
    } catch (err) {
      if (!isDataError(err)) throw err;
      try {
        await insertBatch(db, [storableEvent(event)], log);
      } catch (again) {
        if (!isDataError(again)) throw again;
        refused++;
        log.error(
          { err: String(again), requestId: event.request_id },
          "event refused by the database; dropped",
        );
      }
    }
  }
  return refused;
}

/** SQLSTATE class 22, data exception: the values, not the database, are the problem. */
const isDataError = (err: unknown) => sqlStateOf(err)?.startsWith("22") === true;

function storableEvent(e: InferenceEvent): InferenceEvent {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) out[k] = typeof v === "string" ? storable(v) : v;
  return out as InferenceEvent;
}

async function insertBatch(db: Knex, events: InferenceEvent[], log: Logger): Promise<void> {
  if (!events.some((e) => e.capture !== undefined)) {
    await insertEventRows(db, events);
    return;
  }
  // Events and their captures in one transaction: a capture never exists without its event.
  const rows = events.map(({ capture: _capture, ...event }) => event);
  const captures = events.flatMap((e) =>
    e.capture && e.agent_id !== null ? [captureRow(e, e.capture)] : [],
  );
  try {
    await db.transaction(async (trx) => {
      await insertEventRows(trx, rows);
      await trx("captures").insert(captures).onConflict("request_id").ignore();
    });
  } catch (err) {
    if (!isDataError(err)) throw err;
    // Refused as data: the events or the captures? The events alone first. If they are refused
    // too, the events are the problem, and insertEvents writes them one by one (each with its
    // capture). If they go in, a capture was: it must not hold its batch back forever, so the
    // captures go one by one and only those refused are left out.
    await insertEventRows(db, rows);
    let dropped = 0;
    for (const capture of captures) {
      try {
        await db("captures").insert(capture).onConflict("request_id").ignore();
      } catch (one) {
        if (!isDataError(one)) throw one;
        dropped++;
      }
    }
    log.error({ err: String(err), captures: dropped }, "captures refused by the database; dropped");
  }
}

/**
 * One statement and one parameter per batch: the rows travel as a JSON array that PostgreSQL
 * expands into `inference_events` rows. knex's multi-row VALUES with ~25 bindings per event cost
 * more CPU and allocation in the gateway (building the SQL) than the insert itself (see
 * docs/benchmarks.md). Keys the JSON lacks become NULL; a `capture` key is ignored.
 *
 * (COPY from a CSV Blob was tried on PGlite: half this INSERT's CPU per row in a quiet
 * micro-benchmark, no measurable gain inside the loaded gateway; docs/benchmarks.md.)
 */
async function insertEventRows(q: Knex | Knex.Transaction, rows: InferenceEvent[]): Promise<void> {
  const json = await jsonInSlices(rows);
  // Inside a transaction (captures) the statement must run on its connection, through knex.
  if (q.isTransaction) {
    await q.raw(INSERT_EVENTS_KNEX, [json]);
    return;
  }
  await withConnection(q, async (conn) => {
    if (conn instanceof PGliteThread) await conn.query(INSERT_EVENTS, [json]);
    else await conn.query({ name: "agentgate_insert_events", text: INSERT_EVENTS, values: [json] });
  });
}

const INSERT_EVENTS = `INSERT INTO inference_events
  SELECT * FROM json_populate_recordset(NULL::inference_events, $1::json)
  ON CONFLICT (request_id) DO NOTHING`;
/** The same for knex's `raw`, whose placeholder is `?`. */
const INSERT_EVENTS_KNEX = INSERT_EVENTS.replace("$1", "?");

function captureRow(e: InferenceEvent, c: CaptureRecord) {
  return {
    request_id: e.request_id,
    at: e.at,
    agent_id: e.agent_id,
    system: e.system,
    agent: e.agent,
    version: c.version,
    // jsonb as text: the drivers would turn a JS array into a PostgreSQL array literal.
    messages: JSON.stringify(c.messages),
    tools: c.tools === null ? null : JSON.stringify(c.tools),
    response: JSON.stringify(c.response),
    truncated: c.truncated,
    bytes: c.bytes,
  };
}

/**
 * Events per slice of a batch's JSON text. One `JSON.stringify` of a 500-event batch (PGlite's)
 * held the event loop 1–2 ms every flush, and the calls arriving meanwhile waited: in the PGlite
 * gateway at 1,000 calls/s, 5–13% of the calls above the p99 overlapped one. Slices of 100 with
 * the event loop let through between them take a fifth of that at a time, for the same total
 * work. PostgreSQL's batches (≤ 100) are one slice.
 */
const SLICE = 100;

async function jsonInSlices(rows: InferenceEvent[]): Promise<string> {
  if (rows.length <= SLICE) return JSON.stringify(rows);
  const parts: string[] = [];
  for (let i = 0; i < rows.length; i += SLICE) {
    if (i > 0) await setImmediate();
    parts.push(JSON.stringify(rows.slice(i, i + SLICE)).slice(1, -1));
  }
  return `[${parts.join(",")}]`;
}
