/**
 * Writing event batches (src/events/write.ts) on each backend: every value comes back as it was
 * recorded, whatever characters it carries (the batch travels as one JSON text), and a batch
 * written twice, or mixing stored and new events, stores each event once.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbHandle, openDb } from "../../src/db/knex.js";
import { migrateLatest } from "../../src/db/migrate.js";
import { EventRecorder, type InferenceEvent } from "../../src/events/recorder.js";
import { insertEvents, queued } from "../../src/events/write.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { backends, createPgDatabase, type TestDatabase } from "../helpers/databases.js";
import { sampleEvent as event } from "../helpers/events.js";

const log = createLogger("silent");

/** Strings CSV, SQL literals or JSON could mangle if any layer escaped them wrongly. */
const AWKWARD = [
  "",
  " ",
  'say "hi", then leave',
  "it's O'Brien's",
  "back\\slash \\n not a newline, \\\\ two",
  "line one\nline two\r\nline three",
  "tab\there, comma, semicolon;",
  "emoji 🧪 and accents: ação, Zürich, 東京",
  "$1 $& $' $` placeholders",
  '"',
  '""',
  ",",
  "\\",
  "NULL",
  "\\N",
];

for (const backend of backends()) {
  describe(`event writes on ${backend}`, () => {
    let h: DbHandle;
    let pgDb: TestDatabase | undefined;
    beforeAll(async () => {
      if (backend === "postgres") pgDb = await createPgDatabase();
      h = openDb({ databaseUrl: pgDb?.url, dataDir: "", inMemory: !pgDb });
      await migrateLatest(h.db);
    });
    afterAll(async () => {
      await h?.close();
      await pgDb?.drop();
    });

    const stored = async (ids: string[]) =>
      (await h.db("inference_events").whereIn("request_id", ids).select("*")) as Record<string, unknown>[];

    it("stores every value as recorded, awkward text, nulls, empty strings and small numbers included", async () => {
      const events = AWKWARD.map((text, i) =>
        event({
          session_id: text,
          user_id: i % 2 ? text : null,
          unit_key: `unit ${text}`,
          error_class: i % 3 ? null : text,
          arm: i % 2 ? null : text,
          fallback: i % 2 === 0,
          stream: i % 2 === 1,
          cost_usd: i === 0 ? 1e-9 : i * 0.000_001_5,
          latency_ms: i + 0.001,
          cached_tokens: i % 2 ? null : i,
        }),
      );
      await insertEvents(h.db, events.map(queued), log);
      const byId = new Map((await stored(events.map((e) => e.request_id))).map((r) => [r.request_id, r]));
      expect(byId.size).toBe(events.length);
      for (const e of events) {
        const row = byId.get(e.request_id) as Record<string, unknown>;
        const { at, ...rest } = e;
        expect(row).toMatchObject(rest);
        expect(new Date(row.at as string).toISOString()).toBe(at);
      }
    });

    it("writes a batch the database refuses as data event by event: storable text fixed, a refused value left out alone and counted", async () => {
      const good = [event(), event({ user_id: "ok" })];
      const nul = event({ user_id: "a\u0000b", session_id: "s\ud800" });
      // An integer out of range: nothing to clean, the database refuses it whatever is tried.
      const outOfRange = event({ status: 1e12 });
      const batch = [good[0] as InferenceEvent, nul, outOfRange, good[1] as InferenceEvent];
      expect(await insertEvents(h.db, batch.map(queued), log)).toBe(1);
      const byId = new Map((await stored(batch.map((e) => e.request_id))).map((r) => [r.request_id, r]));
      expect([...byId.keys()].sort()).toEqual([good[0], nul, good[1]].map((e) => e?.request_id).sort());
      expect(byId.get(nul.request_id)).toMatchObject({ user_id: "a\uFFFDb", session_id: "s\uFFFD" });
      expect(byId.get(good[1]?.request_id)?.user_id).toBe("ok");
      // A batch the database takes is not touched.
      expect(await insertEvents(h.db, [event({ user_id: "x\\y" })].map(queued), log)).toBe(0);
    });

    it("tells a refused capture from a refused event: captures dropped only when they are the problem", async () => {
      const [system] = await h
        .db("systems")
        .insert({ name: `s-${randomUUID()}`, topology: "sequential" }, "id");
      const [agent] = await h.db("agents").insert({ system_id: system.id, name: "planner" }, "id");
      const capture = (text: string) => ({
        version: 3,
        messages: [{ role: "user", content: text }],
        tools: null,
        response: { role: "assistant", content: "ok" },
        truncated: false,
        bytes: 64,
      });
      const captured = (over: Partial<InferenceEvent>, text: string) =>
        event({ agent_id: agent.id, ...over, capture: capture(text) });
      const lines: string[] = [];
      const spy = pino({ level: "warn" }, { write: (l: string) => lines.push(l) });
      const capturesOf = async (ids: string[]) =>
        (await h.db("captures").whereIn("request_id", ids).pluck("request_id")).sort();

      // An event refused (an integer out of range) among captured ones: the others keep theirs.
      const fine = [captured({}, "first"), captured({}, "second")];
      const bad = captured({ status: 1e12 }, "third");
      const batch = [fine[0], bad, fine[1]] as InferenceEvent[];
      expect(await insertEvents(h.db, batch.map(queued), spy)).toBe(1);
      expect((await stored(batch.map((e) => e.request_id))).length).toBe(2);
      expect(await capturesOf(batch.map((e) => e.request_id))).toEqual(fine.map((e) => e.request_id).sort());
      expect(lines.join("")).not.toContain("captures refused");

      // A capture refused (jsonb takes no \u0000): every event is written, and every other capture.
      const refusedCapture = [captured({}, "nul \u0000 here"), captured({}, "plain")];
      expect(await insertEvents(h.db, refusedCapture.map(queued), spy)).toBe(0);
      expect((await stored(refusedCapture.map((e) => e.request_id))).length).toBe(2);
      expect(await capturesOf(refusedCapture.map((e) => e.request_id))).toEqual([
        refusedCapture[1]?.request_id,
      ]);
      expect(lines.join("")).toContain("captures refused by the database; dropped");
      expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ captures: 1 });
    });

    it("replays a spool file holding an event the database refuses as data, instead of retrying it forever", async () => {
      const spoolDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-spool-"));
      try {
        const events = [event(), event({ user_id: "nul\u0000here" }), event({ cached_tokens: 2 ** 40 })];
        writeFileSync(
          path.join(spoolDir, "events-1-1.jsonl"),
          `${events.map((e) => JSON.stringify(e)).join("\n")}\n`,
        );
        const metrics = createMetrics();
        const recorder = new EventRecorder(h.db, { spoolDir }, metrics, log);
        await recorder.replay();
        expect(readdirSync(spoolDir)).toEqual([]);
        const rows = await stored(events.map((e) => e.request_id));
        expect(rows.map((r) => r.user_id).sort()).toEqual([null, "nul\uFFFDhere"].sort());
        const counter = async (name: string) =>
          (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
        expect(await counter("agentgate_events_written_total")).toBe(2);
        expect(await counter("agentgate_events_dropped_total")).toBe(1);
      } finally {
        rmSync(spoolDir, { recursive: true, force: true });
      }
    });

    it("stores each event once when a batch is written twice, or mixes stored and new events", async () => {
      const first = [event(), event({ user_id: "u'1" })];
      await insertEvents(h.db, first.map(queued), log);
      await insertEvents(h.db, first.map(queued), log);
      const second = [first[1] as InferenceEvent, event({ session_id: "s,2" }), first[0] as InferenceEvent];
      await insertEvents(h.db, second.map(queued), log);
      const ids = [...first, ...second].map((e) => e.request_id);
      const rows = await stored(ids);
      expect(rows.map((r) => r.request_id).sort()).toEqual([...new Set(ids)].sort());
      expect(rows.find((r) => r.request_id === second[1]?.request_id)?.session_id).toBe("s,2");
    });

    it("writes a batch of 250 events whole, each row from its own recorded JSON, every value in place", async () => {
      // The batch is the events' texts joined: awkward text next to every comma between them.
      const events = Array.from({ length: 250 }, (_, i) =>
        event({ session_id: AWKWARD[i % AWKWARD.length] ?? null, prompt_tokens: i }),
      );
      expect(await insertEvents(h.db, events.map(queued), log)).toBe(0);
      const rows = await stored(events.map((e) => e.request_id));
      expect(rows).toHaveLength(250);
      const byId = new Map(rows.map((r) => [r.request_id, r]));
      for (const e of events) {
        const row = byId.get(e.request_id);
        expect(row?.session_id).toBe(e.session_id);
        expect(row?.prompt_tokens).toBe(e.prompt_tokens);
      }
    });
  });
}
