/**
 * Experiment report at scale (`npm run bench:report`): a throwaway PostgreSQL database with
 * 1,000,000 synthetic inference events of one system-scoped experiment (3 arms × 3 agents,
 * ~100,000 workflow runs) and run-level feedback for a share of the runs; then `buildReport` is
 * timed cold (first call on a fresh connection pool) and warm (median and max of the next runs).
 * Target (issue "Experiments that decide"): under 2 s at 1,000,000 events.
 *
 * The events are generated inside PostgreSQL (`INSERT ... SELECT ... FROM generate_series`) with
 * fixed seeds: latency lognormal per arm and agent, token counts skewed, prices per version,
 * about 1% 5xx, 0.5% 429 and 1% fallbacks (errors carry no cost, as unpriced calls do).
 *
 *   npm run bench:report                      # 1,000,000 events
 *   BENCH_EVENTS=200000 npm run bench:report  # smaller run
 *   BENCH_TAIL=0.2 npm run bench:report       # share of events not yet vacuumed (default 0.05)
 *   BENCH_EXPLAIN=1 npm run bench:report      # also EXPLAIN ANALYZE each report query
 *   BENCH_KEEP=1 ... then BENCH_DB=<name> ...  # keep the seeded database, then time it again
 *   BENCH_REPORT_OUT=report.json ...           # write the report (to compare query changes)
 *
 * The admin URL is BENCH_PG_URL, else AGENTGATE_TEST_PG_URL, else postgres@127.0.0.1:5432.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import os from "node:os";
import knex, { type Knex } from "knex";
import pg from "pg";
import { migrateLatest } from "../src/db/migrate.js";
import { buildReport, DEFAULT_REPORT_OPTIONS, type Report } from "../src/experiments/report/report.js";
import { ExperimentService } from "../src/experiments/service.js";

pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

const ADMIN_URL =
  process.env.BENCH_PG_URL ??
  process.env.AGENTGATE_TEST_PG_URL ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SESSIONS = Math.max(1, Math.round(EVENTS / 10));
const FEEDBACK_SHARE = 0.3;
/**
 * Share of the events not yet vacuumed when the first reports run. The events table is
 * autovacuumed after 2% + 10,000 inserted rows (migration 20261126100000_report_indexes): 3% at
 * 1,000,000 events, plus what arrives within autovacuum_naptime (1 min) — hence 5%. PostgreSQL's
 * default (20%) is BENCH_TAIL=0.2.
 */
const TAIL = Number(process.env.BENCH_TAIL ?? 0.05);
const WARM_RUNS = 7;
const TARGET_MS = 2000;

const AGENTS = ["coordinator", "researcher", "writer"];
const ARMS = [
  { name: "control", weight: 40, versions: { coordinator: 1, researcher: 1, writer: 1 } },
  { name: "per_agent_ft", weight: 30, versions: { coordinator: 2, researcher: 2, writer: 2 } },
  { name: "hybrid", weight: 30, versions: { coordinator: 1, researcher: 2, writer: 2 } },
];

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (x: number) => `${x.toFixed(0)} ms`;

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL, application_name: "agentgate-bench-report" });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function open(url: string): Knex {
  return knex({ client: "pg", connection: { connectionString: url }, pool: { min: 0, max: 10 } });
}

/** Registry rows: one upstream, the system, 3 agents with v1 (base) and v2 (fine-tuned, priced lower). */
async function seedRegistry(db: Knex): Promise<void> {
  const [up] = await db("upstreams")
    .insert({
      name: "bench",
      base_url: "http://127.0.0.1:9/v1",
      timeout_ms: 60_000,
      connect_timeout_ms: 5_000,
      first_byte_timeout_ms: 30_000,
    })
    .returning("id");
  const [sys] = await db("systems").insert({ name: "bench", topology: "hierarchical" }).returning("id");
  for (const name of AGENTS) {
    const [agent] = await db("agents").insert({ system_id: sys.id, name, next_version: 3 }).returning("id");
    await db("versions").insert([
      {
        agent_id: agent.id,
        number: 1,
        kind: "base_optimized",
        upstream_id: up.id,
        model: "gpt-4o-mini",
        created_by: "bench",
      },
      {
        agent_id: agent.id,
        number: 2,
        kind: "fine_tuned",
        upstream_id: up.id,
        model: `ft:gpt-4o-mini:bench:${name}`,
        training_cost_usd: 25 + AGENTS.indexOf(name) * 5,
        pricing: JSON.stringify({ input_per_mtok: 0.3, output_per_mtok: 1.2 }),
        created_by: "bench",
      },
    ]);
  }
  await db("metrics").insert([
    { name: "resolved", type: "boolean", direction: "higher", created_by: "bench" },
    { name: "quality", type: "float", direction: "higher", created_by: "bench" },
  ]);
}

/**
 * The arm of run `s` in SQL: a stable hash of the run number into [0, 100), split 40/30/30 —
 * a stand-in for the gateway's assignment with the same shape (sticky per run, weights held).
 */
const ARM_SQL = (s: string) => `CASE
  WHEN (hashint4(${s}) & 2147483647) % 100 < 40 THEN 'control'
  WHEN (hashint4(${s}) & 2147483647) % 100 < 70 THEN 'per_agent_ft'
  ELSE 'hybrid' END`;

/** Events number `from` to `to` (inclusive). */
async function seedEvents(db: Knex, experimentId: number, from: number, to: number): Promise<void> {
  await db.raw("SELECT setseed(?)", [0.42 * (from / EVENTS)]);
  // One row per call: run s (uniform over SESSIONS, ~10 calls each), agent by call number,
  // arm by run. Latency: lognormal (Box-Muller), median ~800 ms, fine-tunes ~15% faster.
  await db.raw(
    `INSERT INTO inference_events (request_id, at, system, agent, agent_id, route, experiment_id, arm,
        assigned_version, served_version, served_model, upstream, fallback, stream, status, error_class,
        session_id, unit_key, latency_ms, upstream_ms, ttft_ms, prompt_tokens, completion_tokens,
        cached_tokens, cost_usd)
     SELECT 'bench-' || g, now() - interval '7 days' * u_at, 'bench', agent, NULL, 'experiment', ?, arm,
            v, CASE WHEN fallback THEN 1 ELSE v END,
            CASE WHEN v = 2 AND NOT fallback THEN 'ft:gpt-4o-mini:bench:' || agent ELSE 'gpt-4o-mini' END,
            'bench', fallback, u_stream < 0.3, status,
            CASE WHEN status >= 500 THEN 'server_error' WHEN status = 429 THEN 'rate_limited' END,
            'run-' || s, 'session:run-' || s, latency, latency * 0.97, latency * 0.35,
            CASE WHEN status = 200 THEN prompt END, CASE WHEN status = 200 THEN completion END,
            CASE WHEN status = 200 THEN 0 END,
            CASE WHEN status = 200 THEN
              CASE WHEN v = 2 AND NOT fallback THEN (prompt * 0.3 + completion * 1.2) / 1e6
                   ELSE (prompt * 0.15 + completion * 0.6) / 1e6 END END
       FROM (
         SELECT g, s, agent, arm, u_at, u_stream, fallback, status, prompt, completion,
                CASE WHEN arm = 'control' THEN 1
                     WHEN arm = 'hybrid' AND agent = 'coordinator' THEN 1 ELSE 2 END AS v,
                exp(6.7 + CASE WHEN arm = 'control' OR (arm = 'hybrid' AND agent = 'coordinator')
                               THEN 0 ELSE -0.15 END
                    + 0.6 * sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2)) AS latency
           FROM (
             SELECT g, s, (ARRAY['coordinator', 'researcher', 'writer'])[1 + g % 3] AS agent,
                    ${ARM_SQL("s")} AS arm,
                    random() AS u_at, random() AS u_stream, random() AS u1, random() AS u2,
                    random() < 0.01 AS fallback,
                    CASE WHEN r_err < 0.01 THEN 500 + (g % 4) WHEN r_err < 0.015 THEN 429 ELSE 200 END AS status,
                    200 + floor(random() * 1800)::int AS prompt,
                    20 + floor(-ln(1 - random()) * 180)::int AS completion
               FROM (SELECT g, 1 + floor(random() * ?)::int AS s, random() AS r_err
                       FROM generate_series(?::int, ?::int) AS g) base) calls) x`,
    [experimentId, SESSIONS, from, to],
  );
}

async function seedFeedback(db: Knex): Promise<void> {
  // Run-level feedback for a share of the runs that made calls: "resolved" (boolean) and
  // "quality" (a score), better in the fine-tuned arms.
  await db.raw(
    `INSERT INTO feedback (metric, value, session_id, actor, at)
     SELECT m.metric,
            CASE WHEN m.metric = 'resolved'
                 THEN CASE WHEN random() < CASE arm WHEN 'control' THEN 0.62 WHEN 'hybrid' THEN 0.66 ELSE 0.65 END
                           THEN 1 ELSE 0 END
                 ELSE least(1, greatest(0, 0.7 + CASE WHEN arm = 'control' THEN 0 ELSE 0.02 END
                                            + 0.15 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))) END,
            'run-' || s, 'bench', now()
       FROM (SELECT s, ${ARM_SQL("s")} AS arm FROM generate_series(1, ?) AS s
              WHERE random() < ?
                AND EXISTS (SELECT 1 FROM inference_events e WHERE e.session_id = 'run-' || s)) runs
       CROSS JOIN (VALUES ('resolved'), ('quality')) AS m(metric)`,
    [SESSIONS, FEEDBACK_SHARE],
  );
}

/** Where two reports differ beyond float rounding (relative 1e-9), or null. */
export function firstDifference(a: unknown, b: unknown, path = "report"): string | null {
  if (typeof a === "number" && typeof b === "number") {
    const close = a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
    return close ? null : `${path}: ${a} vs ${b}`;
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      );
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/** EXPLAIN ANALYZE of each query `buildReport` sends, captured from knex's query events. */
async function explainAll(db: Knex, url: string, run: () => Promise<unknown>): Promise<void> {
  const queries: { sql: string; bindings: unknown[] }[] = [];
  const listener = (q: { sql: string; bindings?: unknown[] }) =>
    queries.push({ sql: q.sql, bindings: q.bindings ?? [] });
  db.on("query", listener);
  await run();
  db.removeListener("query", listener);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const q of queries) {
      if (!/inference_events|feedback/.test(q.sql)) continue;
      const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.bindings);
      console.log(`\n--- ${q.sql.replace(/\s+/g, " ").slice(0, 160)}`);
      for (const r of plan.rows as { "QUERY PLAN": string }[]) console.log(r["QUERY PLAN"]);
    }
  } finally {
    await c.end();
  }
}

/** Creates and seeds the database; returns the experiment's id. */
async function seed(db: Knex, url: string): Promise<number> {
  await migrateLatest(db);
  await seedRegistry(db);
  const experiments = new ExperimentService(db, async () => {});
  const actor = { name: "bench", scopes: ["admin"] as const };
  const created = await experiments.create(actor, {
    name: "bench-strategies",
    system: "bench",
    agent: null,
    unit: "session",
    arms: ARMS,
    primary_metric: "resolved",
    secondary_metrics: ["quality"],
    guardrails: [],
    fallback_to_champion: true,
  });
  await experiments.start(actor, created.id);
  const exp = await experiments.get(created.id);
  // A live table is never fully vacuumed: the newest events sit on pages autovacuum has not yet
  // marked all-visible, which index-only scans must check in the table. The load reproduces that:
  // all but the last TAIL of the events, VACUUM, the rest, ANALYZE only.
  const older = Math.round(EVENTS * (1 - TAIL));
  let t0 = process.hrtime.bigint();
  await seedEvents(db, created.id, 1, older);
  const olderMs = ms(t0);
  await db.raw("VACUUM ANALYZE inference_events");
  t0 = process.hrtime.bigint();
  await seedEvents(db, created.id, older + 1, EVENTS);
  await seedFeedback(db);
  const insertMs = olderMs + ms(t0);
  t0 = process.hrtime.bigint();
  await db.raw("ANALYZE");
  const counts = await db.raw(
    `SELECT (SELECT count(*) FROM inference_events) AS events,
            (SELECT count(DISTINCT unit_key) FROM inference_events) AS runs,
            (SELECT count(*) FROM feedback) AS feedback,
            pg_size_pretty(pg_relation_size('inference_events')) AS heap,
            pg_size_pretty(pg_indexes_size('inference_events')) AS indexes`,
  );
  const c = counts.rows[0];
  console.log(
    `seeded ${Number(c.events).toLocaleString("en")} events (table ${c.heap}, indexes ${c.indexes}), ` +
      `${Number(c.runs).toLocaleString("en")} runs, ${Number(c.feedback).toLocaleString("en")} feedback rows ` +
      `in ${(insertMs / 1000).toFixed(1)} s (${Math.round(EVENTS / (insertMs / 1000)).toLocaleString("en")} events/s); ` +
      `ANALYZE ${fmt(ms(t0))}`,
  );
  const partly = await timeReports(url, exp.id);
  console.log(`\nbuildReport, last ${(TAIL * 100).toFixed(0)}% of events not yet vacuumed: ${partly.line}`);
  results.push(partly);
  t0 = process.hrtime.bigint();
  await db.raw("VACUUM ANALYZE inference_events, feedback");
  console.log(`VACUUM ANALYZE (as autovacuum would): ${fmt(ms(t0))}`);
  return created.id;
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

type Timing = { cold: number; median: number; max: number; line: string; report: Report };
const results: Timing[] = [];

/**
 * One cold report (a fresh connection pool, so it also pays for connecting and planning) and
 * WARM_RUNS warm ones, each checked to give the same report.
 */
async function timeReports(url: string, id: number): Promise<Timing> {
  const db = open(url);
  try {
    const exp = await new ExperimentService(db, async () => {}).get(id);
    let t0 = process.hrtime.bigint();
    const report = await buildReport(db, exp, DEFAULT_REPORT_OPTIONS);
    const cold = ms(t0);
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      t0 = process.hrtime.bigint();
      const r = await buildReport(db, exp, DEFAULT_REPORT_OPTIONS);
      warm.push(ms(t0));
      // Same data, same report (apart from its timestamp and the last bits of float sums, whose
      // order parallel workers vary).
      const diff = firstDifference({ ...r, generated_at: "" }, { ...report, generated_at: "" });
      if (diff) throw new Error(`the report changed between runs on unchanged data: ${diff}`);
    }
    const sorted = [...warm].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    const max = sorted.at(-1) as number;
    const line =
      `cold ${fmt(cold)}; warm median ${fmt(median)}, max ${fmt(max)} ` +
      `(${WARM_RUNS} runs: ${warm.map((w) => w.toFixed(0)).join(", ")}; load average ${loadAverage()})`;
    return { cold, median, max, line, report };
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  // BENCH_DB=<name> reuses a database a previous run kept (BENCH_KEEP=1), to iterate on queries.
  const reuse = process.env.BENCH_DB;
  const name = reuse ?? `agentgate_bench_report_${process.pid}_${randomBytes(4).toString("hex")}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  console.log(
    `experiment report benchmark: ${reuse ? `database ${reuse}` : `${EVENTS.toLocaleString("en")} events, ~${SESSIONS.toLocaleString("en")} runs`}, ` +
      `${os.cpus().length} CPUs, load average ${loadAverage()}`,
  );
  if (!reuse) await adminQuery(`CREATE DATABASE ${name}`);
  const db = open(url.toString());
  try {
    const id = reuse
      ? ((await db("experiments").where({ name: "bench-strategies" }).first("id")).id as number)
      : await seed(db, url.toString());
    const vacuumed = await timeReports(url.toString(), id);
    results.push(vacuumed);
    console.log(`buildReport, all events vacuumed: ${vacuumed.line}`);
    const r = vacuumed.report;
    console.log(
      `report: ${r.arms.map((a) => `${a.name} ${a.units} runs / ${a.calls} calls`).join(", ")}; ` +
        `SRM p = ${r.srm?.p.toFixed(3)}; metrics: ${r.metrics.map((m) => m.name).join(", ")}`,
    );
    if (process.env.BENCH_REPORT_OUT) writeFileSync(process.env.BENCH_REPORT_OUT, JSON.stringify(r));
    const worst = Math.max(...results.map((t) => Math.max(t.cold, t.max)));
    const verdict = worst < TARGET_MS ? "PASS" : "FAIL";
    console.log(`\ntarget < ${TARGET_MS} ms for every report above (slowest ${fmt(worst)}): ${verdict}`);
    if (process.env.BENCH_EXPLAIN === "1") {
      const exp = await new ExperimentService(db, async () => {}).get(id);
      await explainAll(db, url.toString(), () => buildReport(db, exp));
    }
    if (verdict === "FAIL") process.exitCode = 1;
  } finally {
    await db.destroy().catch(() => {});
    if (process.env.BENCH_KEEP === "1") console.log(`kept database ${name} (BENCH_DB=${name} reuses it)`);
    else await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
