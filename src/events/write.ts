/**
 * Writing a batch of inference events (and their captures) to the database: the statements the
 * recorder runs. Every path is idempotent on the request id, so a batch written twice (a replay
 * after a write whose answer was lost) stores each event once.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import type { CaptureRecord } from "../capture/capture.js";
import { withConnection } from "../db/knex.js";
import { PGliteThread } from "../db/pglite-thread.js";
import { storable } from "../db/storable.js";
import { sqlStateOf } from "../errors.js";
import type { InferenceEvent } from "./recorder.js";

/**
 * An event as the recorder holds it until it is written: its JSON text, made once when the call
 * is recorded, and what the queue is searched by. Turning a whole batch into JSON at flush time
 * held the event loop for up to a few milliseconds at once (0.3–2.6 ms for 100–500 events), and
 * the calls arriving meanwhile waited; a few microseconds per call, spread over the calls, hold
 * nobody up. It also leaves the garbage collector one flat string per waiting event to keep and
 * move instead of an object graph. The text is the batch statement's row and the spool file's
 * line alike.
 */
export type QueuedEvent = {
  readonly requestId: string;
  readonly sessionId: string | null;
  /** The event without its capture, as JSON. */
  readonly json: string;
  /** A captured call keeps its event whole: its capture row is made when written, or spooled with it. */
  readonly captured?: InferenceEvent & { capture: CaptureRecord };
};

export function queued(event: InferenceEvent): QueuedEvent {
  const { request_id: requestId, session_id: sessionId } = event;
  // Most calls capture nothing: their event is its own row, with no copy made to leave `capture` out.
  if (!event.capture) return { requestId, sessionId, json: JSON.stringify(event) };
  const { capture: _, ...row } = event;
  return {
    requestId,
    sessionId,
    json: JSON.stringify(row),
    captured: event as InferenceEvent & { capture: CaptureRecord },
  };
}

/** The event as one line of the spool file (JSON Lines), its capture included. */
export const spoolLine = (q: QueuedEvent): string => (q.captured ? JSON.stringify(q.captured) : q.json);

/**
 * Writes a batch; resolves to the number of events the database refused as data and that were
 * left out (counted as dropped by the recorder; 0 unless something unforeseen got through).
 * Any other failure rejects, and the recorder spools the whole batch.
 */
export async function insertEvents(db: Knex, events: QueuedEvent[], log: Logger): Promise<number> {
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
          { err: String(again), requestId: event.requestId },
          "event refused by the database; dropped",
        );
      }
    }
  }
  return refused;
}

/** SQLSTATE class 22, data exception: the values, not the database, are the problem. */
const isDataError = (err: unknown) => sqlStateOf(err)?.startsWith("22") === true;

/** The event with every text made storable (its capture too: the capture row is made from it). */
function storableEvent(q: QueuedEvent): QueuedEvent {
  const out: Record<string, unknown> = {};
  const event = q.captured ?? (JSON.parse(q.json) as InferenceEvent);
  for (const [k, v] of Object.entries(event)) out[k] = typeof v === "string" ? storable(v) : v;
  return queued(out as InferenceEvent);
}

async function insertBatch(db: Knex, events: QueuedEvent[], log: Logger): Promise<void> {
  const rows = jsonArray(events);
  if (!events.some((e) => e.captured !== undefined)) {
    await insertEventRows(db, rows);
    return;
  }
  // Events and their captures in one transaction: a capture never exists without its event.
  const captures = events.flatMap(({ captured: e }) =>
    e && e.agent_id !== null ? [captureRow(e, e.capture)] : [],
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
 * The batch's rows as one JSON array: the events' own texts, joined. The brackets go onto the
 * first and last texts before the join, not around its result: `"[" + joined + "]"` is a V8 cons
 * string, which the driver flattens into a second copy of the whole text (`Buffer.byteLength`)
 * that outlives the young generation (BENCH_PROFILE=promoted: ~570 bytes a call on PostgreSQL, a
 * third of everything the gateway promoted). `join` makes one flat string.
 */
function jsonArray(events: QueuedEvent[]): string {
  const texts = events.map((e) => e.json);
  const last = texts.length - 1;
  texts[0] = `[${texts[0]}`;
  texts[last] = `${texts[last]}]`;
  return texts.join(",");
}

/**
 * One statement and one parameter per batch: the rows travel as a JSON array that PostgreSQL
 * expands into `inference_events` rows. knex's multi-row VALUES with ~25 bindings per event cost
 * more CPU and allocation in the gateway (building the SQL) than the insert itself (see
 * docs/benchmarks.md). Keys the JSON lacks become NULL.
 *
 * (COPY from a CSV Blob was tried on PGlite: half this INSERT's CPU per row in a quiet
 * micro-benchmark, no measurable gain inside the loaded gateway; docs/benchmarks.md.)
 */
async function insertEventRows(q: Knex | Knex.Transaction, json: string): Promise<void> {
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
