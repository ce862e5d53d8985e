/**
 * `agentgate demo`: the whole product in two minutes on a fresh machine — a gateway on the
 * embedded database, a simulated provider, the four multi-agent topologies with their fine-tune
 * strategies in experiments, reports, a guardrail rollback and a pin (src/demo/). It then keeps
 * serving for Prometheus/Grafana until Ctrl-C, or ends with `--exit`.
 *
 * The demo runs in this process, so the heavy modules are imported only when it starts.
 */
import { mkdirSync } from "node:fs";
import type { Command } from "commander";
import { ConfigError } from "../../config.js";
import { CliError, describeError, EXIT_FAILURE, usageError } from "../errors.js";
import { parsePort } from "../serve.js";

type DemoFlags = {
  port?: string;
  host: string;
  dataDir?: string;
  databaseUrl?: string;
  runs: number;
  concurrency: number;
  serve: boolean;
  exit?: boolean;
  logLevel: string;
};

function intBetween(what: string, lo: number, hi: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < lo || n > hi)
      throw usageError(`${what} must be an integer between ${lo} and ${hi}, got '${raw}'`);
    return n;
  };
}

export const DEFAULT_RUNS = 320;

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "start agentgate with a simulated provider, the four multi-agent topologies and their fine-tune experiments; print the reports, roll back a bad fine-tune, pin an agent, then keep serving",
    )
    .option("--port <n>", "port to listen on (default 8080, or a free port when 8080 is taken)", parsePort)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--data-dir <dir>", "embedded database directory (default: a new temporary directory)")
    .option(
      "--database-url <url>",
      "use this (empty, dedicated) PostgreSQL database instead of the embedded one",
    )
    .option("--runs <n>", "workflow runs per system", intBetween("--runs", 8, 100_000), DEFAULT_RUNS)
    .option("--concurrency <n>", "concurrent runs per system", intBetween("--concurrency", 1, 256), 16)
    .option("--exit", "end after the scripted part instead of serving (same as --no-serve)")
    .option("--no-serve", "end after the scripted part")
    .option("--log-level <level>", "gateway log level (JSON lines on stdout)", "error")
    .action(async (flags: DemoFlags) => {
      if (flags.dataDir) mkdirSync(flags.dataDir, { recursive: true });
      const { runDemo } = await import("../../demo/run.js");
      const { printServing } = await import("../../demo/serving.js");
      const demo = await runDemo({
        port: flags.port === undefined ? undefined : Number(flags.port),
        host: flags.host,
        dataDir: flags.dataDir,
        databaseUrl: flags.databaseUrl,
        runs: flags.runs,
        concurrency: flags.concurrency,
        guardrailIntervalMs: 500,
        logLevel: flags.logLevel,
      }).catch((err: unknown) => {
        if (err instanceof ConfigError) throw usageError(err.message);
        if (err instanceof CliError) throw err;
        throw new CliError(`demo failed: ${describeError(err)}`);
      });
      if (flags.exit || !flags.serve) {
        await demo.close();
        return;
      }
      printServing({
        url: demo.gateway.url,
        port: demo.gateway.port,
        adminToken: demo.adminToken,
        dataDir: demo.dataDir,
      });
      const stop = () => {
        demo.close().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`agentgate: error while stopping: ${describeError(err)}\n`);
            process.exit(EXIT_FAILURE);
          },
        );
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
