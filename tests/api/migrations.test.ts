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
