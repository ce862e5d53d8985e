/**
 * `npm run bench:routing`: DESIGN.md's registry-scale target — 10,000 agents × 50 versions, the
 * routing table rebuilt in under a second, lookups O(1). On a throwaway PostgreSQL database (and
 * the embedded PGlite with BENCH_ROUTING_PGLITE=1) it generates, inside the database: 100 systems
 * × 100 agents, 50 versions each (500,000 rows, with prompts), a champion per agent, 1% pinned,
 * 20 running experiments of two arms over 50 agents each, 200 proxy tokens. Then it times the
 * rebuild every replica runs on a change (`buildRoutingTable`: cold, then warm), the table's heap
 * size, and route resolution on 1,000,000 calls spread over all agents and sessions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Knex } from "knex";
import { openDb } from "../src/db/knex.js";
import { migrateLatest } from "../src/db/migrate.js";
import { resolveRoute } from "../src/gateway/resolve.js";
import { buildRoutingTable } from "../src/gateway/routing-table.js";
import { createBenchDatabase, postgresOrSkip } from "./postgres.js";

const SYSTEMS = 100;
const AGENTS_PER_SYSTEM = 100;
const VERSIONS = 50;
const EXPERIMENTS = 20;
const LOOKUPS = 1_000_000;

async function seed(db: Knex): Promise<void> {
  const sql = (s: string) => db.raw(s);
  await sql(`INSERT INTO upstreams (name, base_url, timeout_ms, connect_timeout_ms, first_byte_timeout_ms)
    VALUES ('openai', 'https://api.openai.com/v1', 120000, 10000, 60000)`);
  await sql(`INSERT INTO systems (name, topology)
    SELECT 'sys' || s, 'hierarchical' FROM generate_series(1, ${SYSTEMS}) s`);
  await sql(`INSERT INTO agents (system_id, name, next_version)
    SELECT s.id, 'agent' || a, ${VERSIONS + 1} FROM systems s, generate_series(1, ${AGENTS_PER_SYSTEM}) a`);
  await sql(`INSERT INTO versions (agent_id, number, kind, upstream_id, model, prompt, params, created_by)
    SELECT a.id, n, CASE WHEN n % 5 = 0 THEN 'fine_tuned' ELSE 'base_optimized' END, 1,
           CASE WHEN n % 5 = 0 THEN 'ft:gpt-4o-mini:acme::' || a.id || '-' || n ELSE 'gpt-4o-mini' END,
           jsonb_build_object('mode', 'replace', 'demos', '[]'::jsonb,
             'system', 'You are agent ' || a.name || ', version ' || n || '. ' || repeat('Be precise. ', 20)),
           '{"temperature": 0.2}'::jsonb, 'bench'
    FROM agents a, generate_series(1, ${VERSIONS}) n`);
  await sql(`INSERT INTO aliases (agent_id, name, version_id, updated_by)
    SELECT agent_id, 'champion', id, 'bench' FROM versions WHERE number = ${VERSIONS - 1}`);
  await sql(`INSERT INTO pins (agent_id, version_id, created_by)
    SELECT agent_id, id, 'bench' FROM versions WHERE number = ${VERSIONS - 2} AND agent_id % 100 = 0`);
  for (let e = 1; e <= EXPERIMENTS; e++) {
    await sql(`INSERT INTO experiments (name, system_id, unit, salt, status, created_by, started_at)
      VALUES ('exp${e}', ${e}, 'session', 'salt${e}', 'running', 'bench', now())`);
    await sql(`INSERT INTO experiment_arms (experiment_id, name, position, weight)
      VALUES (${e}, 'control', 0, 50), (${e}, 'ft', 1, 50)`);
    await sql(`INSERT INTO experiment_arm_versions (arm_id, agent_id, version_id)
      SELECT arm.id, v.agent_id, v.id FROM experiment_arms arm
      JOIN agents a ON a.system_id = ${e} AND a.name ~ '^agent([1-9]|[1-4][0-9]|50)$'
      JOIN versions v ON v.agent_id = a.id
        AND v.number = CASE WHEN arm.name = 'control' THEN ${VERSIONS - 1} ELSE ${VERSIONS} END
      WHERE arm.experiment_id = ${e}`);
  }
  await sql(`INSERT INTO api_tokens (name, scopes, token_hash, prefix, created_by)
    SELECT 'agents' || i, ARRAY['proxy'], md5(i::text) || md5((i + 1)::text), 'agk_', 'bench'
    FROM generate_series(1, 200) i`);
  await sql("ANALYZE");
}

type Result = {
  storage: string;
  seedS: number;
  coldMs: number;
  warmMs: number[];
  heapMb: number;
  lookupNs: number;
};

async function measure(storage: "postgres" | "pglite", url: string | undefined): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), "agentgate-bench-routing-"));
  const handle = openDb({ databaseUrl: url, dataDir: dir });
  try {
    await migrateLatest(handle.db);
    const t0 = performance.now();
    await seed(handle.db);
    const seedS = (performance.now() - t0) / 1000;

    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let t = performance.now();
    let table = await buildRoutingTable(handle.db);
    const coldMs = performance.now() - t;
    global.gc?.();
    const heapMb = (process.memoryUsage().heapUsed - heap0) / 1024 / 1024;
    const warmMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      table = await buildRoutingTable(handle.db);
      warmMs.push(performance.now() - t);
    }
    const agents = table.agents.size;
    const pinned = [...table.agents.values()].filter((a) => a.pin).length;
    const inExperiment = [...table.agents.values()].filter((a) => a.experiment).length;
    if (agents !== SYSTEMS * AGENTS_PER_SYSTEM || pinned !== 100 || inExperiment !== EXPERIMENTS * 50)
      throw new Error(`unexpected table: ${agents} agents, ${pinned} pinned, ${inExperiment} in experiments`);

    const refs = [...table.agents.keys()];
    const sessions = Array.from({ length: 10_000 }, (_, i) => `run-${i}`);
    let experimental = 0;
    t = performance.now();
    for (let i = 0; i < LOOKUPS; i++) {
      const r = resolveRoute(table, refs[(i * 7919) % refs.length] as string, {
        session: sessions[i % sessions.length] as string,
        user: null,
        requestId: "r",
      });
      if (r.route === "experiment") experimental++;
    }
    const lookupNs = ((performance.now() - t) * 1e6) / LOOKUPS;
    if (experimental === 0) throw new Error("no call resolved to an experiment arm");
    return { storage, seedS, coldMs, warmMs, heapMb, lookupNs };
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(r: Result): void {
  const warm = [...r.warmMs].sort((a, b) => a - b);
  console.log(
    `| ${r.storage} | ${r.seedS.toFixed(1)} | ${r.coldMs.toFixed(0)} | ${warm[Math.floor(warm.length / 2)]?.toFixed(0)} (${warm[0]?.toFixed(0)}–${warm.at(-1)?.toFixed(0)}) | ${r.heapMb.toFixed(1)} | ${r.lookupNs.toFixed(0)} |`,
  );
}

async function main(): Promise<void> {
  console.log(
    `agentgate routing-scale bench — Node ${process.version}: ${SYSTEMS * AGENTS_PER_SYSTEM} agents × ${VERSIONS} versions, ${EXPERIMENTS} running experiments, ${LOOKUPS.toLocaleString("en")} lookups\n`,
  );
  console.log(
    "| storage | seed s | rebuild cold ms | rebuild warm ms, median (min–max of 5) | table heap MB | lookup ns |",
  );
  console.log(
    "| ------- | -----: | --------------: | -------------------------------------: | ------------: | --------: |",
  );
  if (await postgresOrSkip()) {
    const db = await createBenchDatabase();
    try {
      print(await measure("postgres", db.url));
    } finally {
      await db.drop();
    }
  }
  if (process.env.BENCH_ROUTING_PGLITE === "1") print(await measure("pglite", undefined));
}

await main();
