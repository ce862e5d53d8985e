/**
 * `agentgate serve` and `agentgate migrate`: the two commands that run the server side in this
 * process. The heavy modules (database drivers, HTTP app) are imported lazily so the operator
 * verbs start fast.
 */
import { type Config, ConfigError, loadConfig } from "../config.js";
import { applyRuntimeV8Flags, missingNodeFlags } from "../node-flags.js";
import { CliError, describeError, EXIT_FAILURE, usageError } from "./errors.js";
import { print, printJson } from "./output.js";

/** How long a graceful stop may take before the process gives up and exits non-zero. */
const STOP_DEADLINE_MS = 30_000;

export type ServeOptions = { port?: string; host?: string };

/** The environment with flags on top; a ConfigError becomes the one-line exit-2 failure. */
function configFrom(overrides: Record<string, string | undefined>): Config {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw err;
  }
}

export function parsePort(raw: string): string {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535) {
    throw usageError(`--port must be an integer between 0 and 65535, got '${raw}'`);
  }
  return raw;
}

export async function serve(opts: ServeOptions): Promise<void> {
  const config = configFrom({ PORT: opts.port, HOST: opts.host });
  const { startAgentgate } = await import("../main.js");

  const v8Flags = applyRuntimeV8Flags();
  const starting = startAgentgate(config);
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`agentgate: ${signal} again, exiting without a graceful stop\n`);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`agentgate: did not stop within ${STOP_DEADLINE_MS / 1000}s, exiting\n`);
      process.exit(EXIT_FAILURE);
    }, STOP_DEADLINE_MS).unref();
    let gw: Awaited<typeof starting>;
    try {
      gw = await starting;
    } catch {
      return; // the start failure is reported by the command itself
    }
    try {
      await gw.close();
    } catch (err) {
      process.stderr.write(`agentgate: error while stopping: ${describeError(err)}\n`);
      process.exit(EXIT_FAILURE);
    }
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  let gw: Awaited<typeof starting>;
  try {
    gw = await starting;
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw new CliError(`cannot start: ${describeError(err)}`);
  }
  if (v8Flags.length > 0) gw.log.info({ v8Flags }, "V8 flags set at start (src/node-flags.ts)");
  // `npx agentgate serve` and hand-made launches start node without them (see node-flags.ts).
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    gw.log.warn(
      { missing, fix: `NODE_OPTIONS='${missing.join(" ")}'` },
      "Node started without agentgate's flags: the data plane spends more CPU on garbage collection; set NODE_OPTIONS or use npm start (docs/operations.md)",
    );
  }
}

export async function migrate(json: boolean): Promise<void> {
  const config = configFrom({});
  const { describeDb, openDb } = await import("../db/knex.js");
  const { migrateLatest } = await import("../db/migrate.js");
  const dbOpts = { databaseUrl: config.databaseUrl, dataDir: config.dataDir };
  const where = describeDb(dbOpts);

  let applied: string[];
  try {
    const handle = openDb(dbOpts);
    // knex prints each failed connection attempt with its stack on stdout; the failure is
    // reported once, below, as one line.
    handle.db.client.logger.warn = () => {};
    try {
      applied = await migrateLatest(handle.db);
    } finally {
      await handle.close().catch(() => {});
    }
  } catch (err) {
    throw new CliError(`migration of ${where} failed: ${describeError(err)}`);
  }

  if (json) {
    printJson({ database: where, applied });
  } else if (applied.length === 0) {
    print(`${where} is up to date; no migrations to apply.`);
  } else {
    print(`Applied ${applied.length} migration${applied.length === 1 ? "" : "s"} to ${where}:`);
    for (const name of applied) print(`  ${name}`);
  }
}
