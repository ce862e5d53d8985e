/**
 * `agentgate demo`: starts agentgate (embedded database in a fresh data directory by default) and
 * a simulated OpenAI-compatible provider in this process, seeds the four topologies of the seed
 * study through the admin API, drives workflow runs through the proxy with the `openai` SDK and
 * session feedback, prints the experiment reports, decides the experiments, shows an automatic
 * guardrail rollback and a manual pin — then leaves the gateway running for Prometheus/Grafana.
 *
 * The scripted part ends with checks of what the gateway promised (one arm per run, the rollback,
 * the pin); a failed check is a non-zero exit, so CI can run the demo as a test.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ApiClient } from "../cli/client.js";
import { printReport } from "../cli/commands/experiment-report.js";
import { CliError } from "../cli/errors.js";
import { print } from "../cli/output.js";
import { loadConfig } from "../config.js";
import type { Report } from "../experiments/report/report.js";
import { createLogger } from "../logger.js";
import { type Agentgate, startAgentgate } from "../main.js";
import { driveSystem, NO_ARM, newTally, ProgressBoard } from "./drive.js";
import { LATENCY_SCALE, modelCatalog, SYSTEMS } from "./scenario.js";
import { decide, guardrailRollback, manualPin, type SceneContext } from "./scenes.js";
import { seedAll } from "./seed.js";
import { startSimulatedUpstream } from "./upstream.js";
import { agentClient } from "./workflow.js";

export type DemoOptions = {
  /** Port to listen on; undefined = 8080, or a free port when 8080 is taken. */
  port?: number;
  host: string;
  /** Data directory of the embedded database; undefined = a fresh temporary directory. */
  dataDir?: string;
  /** PostgreSQL instead of the embedded database (a dedicated, empty database). */
  databaseUrl?: string;
  /** Workflow runs per system in the strategy experiments. */
  runs: number;
  /** Concurrent runs per system. */
  concurrency: number;
  /** Guardian interval (ms): short, so the rollback shows within seconds. */
  guardrailIntervalMs: number;
  logLevel: string;
};

export type Demo = {
  gateway: Agentgate;
  adminToken: string;
  dataDir: string;
  seconds: number;
  close(): Promise<void>;
};

const DEFAULT_PORT = 8080;
const UPSTREAM_KEY_ENV = "AGENTGATE_DEMO_UPSTREAM_KEY";

/** Whether `port` can be bound on `host` right now. */
function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

const elapsed = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

export async function runDemo(opts: DemoOptions): Promise<Demo> {
  const t0 = Date.now();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "agentgate-demo-"));
  let port = opts.port ?? DEFAULT_PORT;
  if (opts.port === undefined && !(await portFree(port, opts.host))) {
    print(`Port ${DEFAULT_PORT} is taken; using a free port instead.`);
    port = 0;
  }
  // The bootstrap admin token: the environment's if set (the same variable as `serve`), else new.
  const adminToken = process.env.AGENTGATE_ADMIN_TOKEN || `demo-${randomBytes(18).toString("hex")}`;
  const upstreamKey = randomBytes(16).toString("hex");
  const upstream = await startSimulatedUpstream(modelCatalog(), { apiKey: upstreamKey });
  const config = loadConfig({
    PORT: String(port),
    HOST: opts.host,
    AGENTGATE_DATA_DIR: dataDir,
    AGENTGATE_ADMIN_TOKEN: adminToken,
    AGENTGATE_GUARDRAIL_INTERVAL_MS: String(opts.guardrailIntervalMs),
    AGENTGATE_LOG_LEVEL: opts.logLevel,
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
  });
  let gateway: Agentgate;
  try {
    gateway = await startAgentgate(config, {
      logger: createLogger(opts.logLevel),
      // The upstreams reference their key by this variable name; only the gateway reads it.
      env: { ...process.env, [UPSTREAM_KEY_ENV]: upstreamKey },
    });
  } catch (err) {
    await upstream.close();
    throw err;
  }
  const close = async () => {
    await gateway.close();
    await upstream.close();
  };
  try {
    const seconds = await script(gateway, adminToken, upstream.origin, opts, t0);
    return { gateway, adminToken, dataDir, seconds, close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}

async function script(gw: Agentgate, adminToken: string, origin: string, opts: DemoOptions, t0: number) {
  const api = new ApiClient({ url: gw.url, token: adminToken });
  print(
    `agentgate demo (started in ${elapsed(t0)} s): gateway on ${gw.url}, ${opts.databaseUrl ? "PostgreSQL" : `embedded database in ${gw.config.dataDir}`}.`,
  );
  print(`Simulated provider on ${origin} (latencies scaled down ${LATENCY_SCALE}x).`);

  print();
  print(
    "1. Seeding through the admin API: 2 upstreams, a metric, 2 tokens, 4 systems, their agents and 3 versions each (v1 base+optimized = champion, v2 per-agent fine-tune, v3 global fine-tune), and one strategy experiment per system.",
  );
  const t1 = Date.now();
  const seeded = await seedAll(api, SYSTEMS, origin, UPSTREAM_KEY_ENV);
  const syncRouting = () => gw.routing.reload();
  await syncRouting();
  const experiments = [...seeded.experiments.values()];
  print(
    `   done in ${elapsed(t1)} s: experiments ${experiments.map((e) => `${e.id} ${e.name}`).join(", ")} are running.`,
  );

  const agents = agentClient(gw.url, seeded.agentToken);
  const evaluator = new ApiClient({ url: gw.url, token: seeded.evaluatorToken });
  const runPrefix = `demo-${randomBytes(3).toString("hex")}`;
  print();
  print(
    `2. Workflow runs through the proxy (openai SDK, X-Agent + X-Session-Id), graded, outcome posted as session feedback: ${opts.runs} runs per system.`,
  );
  const rows = SYSTEMS.map((system) => ({ system, tally: newTally(opts.runs) }));
  const board = new ProgressBoard(rows);
  board.start();
  try {
    await Promise.all(
      rows.map(({ system, tally }) =>
        driveSystem(agents, evaluator, system, tally, {
          runs: opts.runs,
          concurrency: opts.concurrency,
          runPrefix,
        }).then(() => board.finished(system)),
      ),
    );
  } finally {
    board.stop();
  }
  const splitRuns = rows.reduce((n, r) => n + r.tally.splitRuns, 0);
  // Every run of a system-scoped experiment has an arm; a run without one missed the experiment.
  const unassigned = rows.reduce((n, r) => n + (r.tally.byArm.get(NO_ARM)?.runs ?? 0), 0);

  // The reports read the stored events: write out what is still queued first.
  await gw.recorder.flush();
  print();
  print("3. The experiment reports (agentgate experiments report <id>):");
  const reports: Report[] = [];
  for (const e of experiments) {
    const report = await api.get<Report>(`/experiments/${e.id}/report`);
    reports.push(report);
    print();
    printReport(report, 0.8);
  }

  print();
  print("4. Deciding each experiment (agentgate experiments promote|stop):");
  const ctx: SceneContext = { api, agents, evaluator, runPrefix, syncRouting };
  for (const r of reports) print(await decide(ctx, r));
  await syncRouting();

  const support = SYSTEMS.find((s) => s.topology === "hierarchical");
  if (!support) throw new Error("the scenario has no hierarchical system");
  print();
  print(
    "5. Guardrails: a retrained billing fine-tune on an overloaded server; the guardian should roll it back.",
  );
  const rollback = await guardrailRollback(ctx, support, { maxRuns: 3000, maxSeconds: 45 });
  if (rollback.rolledBack) {
    print(
      `   The guardian stopped experiment ${rollback.experiment.id} after ${rollback.runs} runs (${rollback.seconds.toFixed(1)} s); failed calls fell back to the champion, so no run saw an error.`,
    );
    print(`   end_reason: ${rollback.experiment.end_reason}`);
    if (rollback.auditEntry)
      print(
        `   audit #${rollback.auditEntry.id}: ${rollback.auditEntry.actor} experiment.auto_rollback on experiment ${rollback.auditEntry.object_key}`,
      );
  } else {
    print(
      `   The guardian did NOT roll the experiment back within ${rollback.runs} runs (status ${rollback.experiment.status}).`,
    );
  }

  print();
  print("6. A manual pin (agentgate pin support/coordinator 3 / agentgate unpin support/coordinator):");
  const pin = await manualPin(ctx, support);

  const seconds = (Date.now() - t0) / 1000;
  print();
  print(`Scripted part finished in ${seconds.toFixed(1)} s.`);
  const failures = checks(splitRuns + unassigned, rollback.rolledBack, rollback.auditEntry !== null, pin);
  if (failures.length > 0) throw new CliError(`demo checks failed: ${failures.join("; ")}`);
  return seconds;
}

/** What the gateway promised during the script; each broken promise is one message. */
function checks(
  splitRuns: number,
  rolledBack: boolean,
  audited: boolean,
  pin: Awaited<ReturnType<typeof manualPin>>,
): string[] {
  const failures: string[] = [];
  if (splitRuns > 0) failures.push(`${splitRuns} workflow runs were not served by exactly one arm`);
  if (!rolledBack) failures.push("the guardian did not roll back the bad fine-tune");
  if (rolledBack && !audited) failures.push("the automatic rollback has no audit entry");
  const pinnedCalls = pin.pinned.calls.filter((c) => c.agent === pin.agent);
  if (
    pinnedCalls.length === 0 ||
    pinnedCalls.some((c) => c.route !== "pinned" || c.version !== String(pin.version))
  )
    failures.push(`the pinned ${pin.agent} was not served by v${pin.version} with route 'pinned'`);
  if (pin.unpinned.calls.some((c) => c.route === "pinned"))
    failures.push("calls were still pinned after unpin");
  return failures;
}
