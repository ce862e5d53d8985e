/**
 * The migrations go up, all the way down, and up again on both backends, and `down` leaves
 * nothing of ours behind.
 */
import { afterEach, describe, expect, inject, it } from "vitest";
import { type DbHandle, openDb } from "../../src/db/knex.js";
import { migrateLatest, migrateRollbackAll } from "../../src/db/migrate.js";
import { backends, createPgDatabase, type TestDatabase } from "../helpers/databases.js";

const REGISTRY_TABLES = [
  "agents",
  "alias_history",
  "aliases",
  "api_tokens",
  "audit_log",
  "pins",
  "systems",
  "upstreams",
  "versions",
];
const BOOKKEEPING = ["agentgate_migrations", "agentgate_migrations_lock"];

async function tables(h: DbHandle): Promise<string[]> {
  const rows = await h
    .db("information_schema.tables")
    .where({ table_schema: "public" })
    .orderBy("table_name")
    .pluck("table_name");
  return rows.filter((name: string) => !BOOKKEEPING.includes(name));
}

describe.each(backends())("migrations on %s", (backend) => {
  let handle: DbHandle | undefined;
  let pgDb: TestDatabase | undefined;
  afterEach(async () => {
    await handle?.close();
    await pgDb?.drop();
    handle = undefined;
    pgDb = undefined;
  });

  const open = async () => {
    if (backend === "postgres") pgDb = await createPgDatabase();
    handle = openDb({ databaseUrl: pgDb?.url, dataDir: "unused", inMemory: true });
    return handle;
  };

  it("migrates latest → rollback all → latest", async () => {
    const h = await open();
    expect(await tables(h)).toEqual([]);

    const applied = await migrateLatest(h.db);
    expect(applied.length).toBeGreaterThanOrEqual(1);
    expect(applied[0]).toBe("20261125140000_registry");
    const all = await tables(h);
    expect(all).toEqual(expect.arrayContaining(REGISTRY_TABLES));
    expect(await migrateLatest(h.db)).toEqual([]);

    // Data does not stop the way down.
    await h.db("upstreams").insert({
      name: "u",
      base_url: "http://h/v1",
      timeout_ms: 1000,
      connect_timeout_ms: 1000,
      first_byte_timeout_ms: 1000,
    });

    await migrateRollbackAll(h.db);
    expect(await tables(h)).toEqual([]);
    const [done] = await h.db("agentgate_migrations").count<{ n: number }[]>({ n: "*" });
    expect(Number(done?.n)).toBe(0);

    expect(await migrateLatest(h.db)).toEqual(applied);
    expect(await tables(h)).toEqual(all);
    // The schema is usable again, and empty.
    expect(await h.db("upstreams").count<{ n: number }[]>({ n: "*" })).toEqual([{ n: 0 }]);
    await h.db("systems").insert({ name: "s", topology: "custom" });
    expect(await h.db("systems").pluck("name")).toEqual(["s"]);
  });

  it("indexes event lookups by session and by experiment unit over non-null keys only", async () => {
    const h = await open();
    await migrateLatest(h.db);
    const defs: string[] = await h
      .db("pg_indexes")
      .where({ tablename: "inference_events" })
      .pluck("indexdef");
    const on = (cols: string) => defs.filter((d) => d.includes(`(${cols})`));
    expect(on("session_id")).toEqual([expect.stringMatching(/WHERE \(session_id IS NOT NULL\)$/)]);
    expect(on("experiment_id, unit_key")).toEqual([
      expect.stringMatching(/WHERE \(experiment_id IS NOT NULL\)$/),
    ]);
    // The lookups the feedback and the report make can use them.
    await h.db.raw("SET enable_seqscan = off");
    const plan = async (sql: string) => JSON.stringify((await h.db.raw(`EXPLAIN ${sql}`)).rows ?? []);
    expect(await plan("SELECT request_id FROM inference_events WHERE session_id = 'run-1'")).toContain(
      "inference_events_session_id_partial_index",
    );
    expect(
      await plan("SELECT request_id FROM inference_events WHERE experiment_id = 3 AND unit_key = 'u'"),
    ).toMatch(/inference_events_\w+_index/);
    // And down restores the full indexes.
    await migrateRollbackAll(h.db);
    await migrateLatest(h.db);
  });
});

describe("migrations from replicas starting together", () => {
  it("lets every replica start: the ones that lose the migration lock wait for the winner", async () => {
    const pgUrl = inject("pgAdminUrl");
    expect(pgUrl, "PostgreSQL is required for this test").toBeTruthy();
    const db = await createPgDatabase();
    const replicas = [0, 1, 2].map(() => openDb({ databaseUrl: db.url, dataDir: "/nonexistent" }));
    try {
      const applied = await Promise.all(replicas.map((r) => migrateLatest(r.db)));
      // Exactly one replica applied the migrations; the others found nothing left to do.
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      expect(applied.flat().length).toBe(applied.find((a) => a.length > 0)?.length);
      const [first] = replicas;
      const [done] = await (first as DbHandle).db("agentgate_migrations").count<{ n: number }[]>({ n: "*" });
      expect(Number(done?.n)).toBe(applied.flat().length);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await db.drop();
    }
  });
});
