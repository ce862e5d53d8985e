/**
 * `agentgate mlflow sync`: mirror agents, versions and aliases to the MLflow Model Registry the
 * server is configured with (MLFLOW_TRACKING_URI on the server), import versions registered there,
 * or both. Prints the summary and every object that changed, was skipped (with the reason) or
 * failed; `--all` lists unchanged ones too. Exits 1 when any object failed.
 * `agentgate mlflow links`: which MLflow model version mirrors each agentgate version.
 */
import { type Command, Option } from "commander";
import { DIRECTIONS, type LinkView, type SyncItem, type SyncReport } from "../../mlflow/report.js";
import { context, parseAgentArg, positiveInt } from "../context.js";
import { CliError, usageError } from "../errors.js";
import { emit, print, printTable } from "../output.js";

type ScopeOptions = { system?: string; agent?: string };
type SyncOptions = ScopeOptions & {
  direction: string;
  dryRun?: boolean;
  all?: boolean;
  timeout: number;
};

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `--agent` is a name with `--system`, or `system/agent` on its own. */
function scope(opts: ScopeOptions): { system?: string; agent?: string } {
  if (opts.system !== undefined && !NAME.test(opts.system))
    throw usageError(`--system '${opts.system}' is not a system name`);
  if (opts.agent === undefined) return { system: opts.system };
  if (opts.agent.includes("/")) {
    const ref = parseAgentArg(opts.agent);
    if (opts.system !== undefined && opts.system !== ref.system)
      throw usageError(`--agent ${opts.agent} is not in --system ${opts.system}`);
    return { system: ref.system, agent: ref.agent };
  }
  if (opts.system === undefined) throw usageError("--agent needs --system (or give it as system/agent)");
  if (!NAME.test(opts.agent)) throw usageError(`--agent '${opts.agent}' is not an agent name`);
  return { system: opts.system, agent: opts.agent };
}

function mlflowObject(i: SyncItem): string {
  if (i.object === "alias")
    return `${i.mlflow_model}@${i.alias}${i.mlflow_version ? ` → ${i.mlflow_version}` : ""}`;
  return i.mlflow_version ? `${i.mlflow_model}/${i.mlflow_version}` : i.mlflow_model;
}

function showReport(r: SyncReport, all: boolean): void {
  const s = r.summary;
  print(
    `${r.dry_run ? "Dry run (nothing changed): " : ""}${r.direction} with MLflow at ${r.mlflow_uri}, ${r.agents} agent${r.agents === 1 ? "" : "s"}`,
  );
  print(
    `created ${s.created}, updated ${s.updated}, deleted ${s.deleted}, unchanged ${s.unchanged}, skipped ${s.skipped}, failed ${s.failed}`,
  );
  const rows = all ? r.items : r.items.filter((i) => i.action !== "unchanged");
  if (rows.length === 0) return;
  print();
  printTable(
    rows,
    [
      { header: "ACTION", value: (i) => i.action },
      { header: "OBJECT", value: (i) => i.object },
      { header: "AGENT", value: (i) => i.agent },
      { header: "VERSION", value: (i) => i.version },
      { header: "MLFLOW", value: mlflowObject },
      { header: "DETAIL", value: (i) => i.detail },
    ],
    "",
  );
}

export function registerMlflow(program: Command): void {
  const mlflow = program
    .command("mlflow")
    .description("mirror the registry to an MLflow Model Registry (configured on the server)");
  mlflow
    .command("sync")
    .description(
      "push agents, versions and champion/challenger aliases to MLflow, pull versions registered there, or both",
    )
    .option("--system <name>", "only this system's agents (default: every agent)")
    .option("--agent <name>", "only this agent (with --system, or as system/agent)")
    .addOption(
      new Option("--direction <direction>", "push, pull or both").choices(DIRECTIONS).default("both"),
    )
    .option("--dry-run", "report what would change without changing anything")
    .option("--all", "also list the objects that were already in step")
    .option(
      "--timeout <seconds>",
      "how long to wait for the server to finish (default 600)",
      positiveInt("--timeout"),
      600,
    )
    .action(async (opts: SyncOptions, cmd: Command) => {
      const { system, agent } = scope(opts);
      const { api, json } = context(cmd);
      const report = await api.post<SyncReport>(
        "/mlflow/sync",
        { system, agent, direction: opts.direction, dry_run: opts.dryRun === true },
        { timeoutMs: opts.timeout * 1000 },
      );
      emit(json, report, (r) => showReport(r, opts.all === true));
      if (report.summary.failed > 0)
        throw new CliError(`${report.summary.failed} object(s) failed to sync (see the report)`);
    });
  mlflow
    .command("links")
    .description("which MLflow model version mirrors each agentgate version (as recorded by sync)")
    .option("--system <name>", "only this system's agents")
    .option("--agent <name>", "only this agent (with --system, or as system/agent)")
    .action(async (opts: ScopeOptions, cmd: Command) => {
      const { system, agent } = scope(opts);
      const { api, json } = context(cmd);
      const { data } = await api.get<{ data: LinkView[] }>("/mlflow/links", { system, agent });
      emit(json, data, (rows) =>
        printTable(
          rows,
          [
            { header: "AGENT", value: (l) => `${l.system}/${l.agent}` },
            { header: "VERSION", value: (l) => l.version },
            { header: "MLFLOW", value: (l) => `${l.registered_model}/${l.model_version}` },
            { header: "RUN", value: (l) => l.run_id },
            { header: "ORIGIN", value: (l) => l.origin },
            { header: "SYNCED_AT", value: (l) => l.synced_at },
          ],
          "No versions are mirrored to MLflow yet (agentgate mlflow sync).",
        ),
      );
    });
}
