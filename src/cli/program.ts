/** The `agentgate` command tree. Each group lives in its own module under `commands/`. */
import { Command } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { registerAgents } from "./commands/agents.js";
import { registerAudit } from "./commands/audit.js";
import { registerCapture } from "./commands/capture.js";
import { registerDatasets } from "./commands/datasets.js";
import { registerDemo } from "./commands/demo.js";
import { registerExperiments } from "./commands/experiments.js";
import { registerFeedback } from "./commands/feedback.js";
import { registerFinetune } from "./commands/finetune.js";
import { registerMetrics } from "./commands/metrics.js";
import { registerMlflow } from "./commands/mlflow.js";
import { registerRollout } from "./commands/rollout.js";
import { registerSystems } from "./commands/systems.js";
import { registerTokens } from "./commands/tokens.js";
import { registerUpstreams } from "./commands/upstreams.js";
import { registerVersions } from "./commands/versions.js";
import { DEFAULT_URL, jsonMode } from "./context.js";
import { migrate, parsePort, type ServeOptions, serve } from "./serve.js";

export function buildProgram(): Command {
  const program = new Command("agentgate")
    .description("Model registry and A/B gateway for multi-agent LLM systems")
    .version(pkg.version, "-V, --version")
    .option("--url <url>", `agentgate server URL (env AGENTGATE_URL; default ${DEFAULT_URL})`)
    .option("--token <token>", "API token (env AGENTGATE_TOKEN, else AGENTGATE_ADMIN_TOKEN)")
    .option("--json", "print the raw JSON response instead of a table, for scripts")
    // Set before any subcommand is added: subcommands copy these settings when created.
    .exitOverride()
    .configureOutput({
      // Commander's own usage errors get the same prefix as ours.
      outputError: (str, write) => write(str.replace(/^error: /, "agentgate: ")),
    });

  program
    .command("serve")
    .description("run the gateway and admin API (config from the environment; flags override)")
    .option("--port <n>", "port to listen on (env PORT; default 8080)", parsePort)
    .option("--host <host>", "address to listen on (env HOST; default 127.0.0.1)")
    .action((opts: ServeOptions) => serve(opts));

  program
    .command("migrate")
    .description("apply pending database migrations (DATABASE_URL, else the embedded database)")
    .action((_opts: unknown, cmd: Command) => migrate(jsonMode(cmd)));

  registerDemo(program);
  registerTokens(program);
  registerUpstreams(program);
  registerSystems(program);
  registerAgents(program);
  registerVersions(program);
  registerRollout(program);
  registerExperiments(program);
  registerMetrics(program);
  registerFeedback(program);
  registerCapture(program);
  registerDatasets(program);
  registerFinetune(program);
  registerMlflow(program);
  registerAudit(program);
  return program;
}
