/**
 * `agentgate experiments create|list|show|start|pause|stop|report|promote`: A/B tests between
 * versions, and deciding them.
 *
 * Arms are given as `--arm <name>:<weight>:<agent>=<version>[,<agent>=<version>...]`, once per
 * arm; for an agent-scoped experiment (`--agent`) the short form `<name>:<weight>:<version>` works.
 */
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { PromoteResult } from "../../experiments/promote.js";
import type { Report } from "../../experiments/report/report.js";
import type { ExperimentView } from "../../experiments/schemas.js";
import { UNITS } from "../../experiments/schemas.js";
import { type List, seg } from "../client.js";
import { collect, context, nonNegativeNumber, positiveInt } from "../context.js";
import { CliError, usageError } from "../errors.js";
import { emit, print, printFields, printTable } from "../output.js";
import { printPromotion, printReport } from "./experiment-report.js";

type Arm = { name: string; weight: number; versions: Record<string, number> };

/** A commander parser for a number strictly between `lo` and `hi`. */
function between(what: string, lo: number, hi: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !(n > lo && n < hi))
      throw usageError(`${what} must be a number between ${lo} and ${hi} (exclusive), got '${raw}'`);
    return n;
  };
}

export function parseArm(raw: string, agent: string | undefined): Arm {
  const [name, weightText, mapping, ...extra] = raw.split(":");
  const weight = Number(weightText);
  if (!name || !mapping || extra.length > 0 || !Number.isFinite(weight) || weight <= 0) {
    throw usageError(
      `--arm '${raw}': expected <name>:<weight>:<agent>=<version>[,...] (or <name>:<weight>:<version> with --agent)`,
    );
  }
  const versions: Record<string, number> = {};
  for (const part of mapping.split(",")) {
    const [a, v] = part.includes("=") ? part.split("=", 2) : [agent, part];
    const n = Number(v);
    if (!a || !Number.isInteger(n) || n < 1)
      throw usageError(`--arm '${raw}': '${part}' is not <agent>=<version number>`);
    versions[a] = n;
  }
  return { name, weight, versions };
}

const armsText = (e: ExperimentView) =>
  e.arms
    .map(
      (a) =>
        `${a.name} ${a.weight} {${Object.entries(a.versions)
          .map(([ag, v]) => `${ag}=${v}`)
          .join(", ")}}`,
    )
    .join("; ");

function showExperiment(e: ExperimentView): void {
  printFields([
    ["id", e.id],
    ["name", e.name],
    ["status", e.status],
    ["scope", e.agent ? `agent ${e.system}/${e.agent}` : `system ${e.system}`],
    ["unit", e.unit],
    ["salt", e.salt],
    ["primary_metric", e.primary_metric],
    ["fallback_to_champion", e.fallback_to_champion],
    ["started_at", e.started_at],
    ["ended_at", e.ended_at],
    ["end_reason", e.end_reason],
  ]);
  print();
  printTable(
    e.arms,
    [
      { header: "ARM", value: (a) => a.name },
      { header: "WEIGHT", value: (a) => a.weight },
      {
        header: "VERSIONS",
        value: (a) =>
          Object.entries(a.versions)
            .map(([ag, v]) => `${ag}=${v}`)
            .join(", "),
      },
    ],
    "No arms.",
  );
}

type CreateOptions = {
  system?: string;
  agent?: string;
  unit: string;
  arm: string[];
  primaryMetric?: string;
  fallback: boolean;
  description?: string;
  fromFile?: string;
};

export function registerExperiments(program: Command): void {
  const experiments = program.command("experiments").description("A/B tests between versions of agents");

  experiments
    .command("create")
    .description("define an experiment (agent-scoped with --agent, else system-scoped)")
    .argument("<name>", "experiment name")
    .option("--system <system>", "the system whose agents it covers")
    .option("--agent <agent>", "make it agent-scoped: one agent of the system")
    .addOption(new Option("--unit <unit>", "randomization unit").choices(UNITS).default("session"))
    .option(
      "--arm <spec>",
      "<name>:<weight>:<agent>=<version>[,...]; repeat per arm (first = control)",
      collect,
      [],
    )
    .option("--primary-metric <metric>", "the metric that decides")
    .option("--no-fallback", "do not retry failed experimental calls on the champion")
    .option("--description <text>", "free text")
    .option("--from-file <file>", "the whole JSON body (flags override its fields)")
    .action(async (name: string, opts: CreateOptions, cmd: Command) => {
      const { api, json } = context(cmd);
      const base = opts.fromFile
        ? (JSON.parse(readFileSync(opts.fromFile, "utf8")) as Record<string, unknown>)
        : {};
      const body: Record<string, unknown> = { ...base, name };
      if (opts.system) body.system = opts.system;
      if (opts.agent) body.agent = opts.agent;
      if (opts.arm.length > 0) body.arms = opts.arm.map((a) => parseArm(a, opts.agent));
      if (!opts.fromFile || cmd.getOptionValueSource("unit") === "cli") body.unit = opts.unit;
      if (opts.primaryMetric) body.primary_metric = opts.primaryMetric;
      if (!opts.fallback) body.fallback_to_champion = false;
      if (opts.description) body.description = opts.description;
      if (!body.system) throw usageError("--system is required (or give it in --from-file)");
      if (!body.arms) throw usageError("give at least two --arm options (or arms in --from-file)");
      const created = await api.post<ExperimentView>("/experiments", body);
      emit(json, created, (e) => {
        print(
          `Created experiment ${e.id} '${e.name}' (draft; start it with: agentgate experiments start ${e.id}).`,
        );
        showExperiment(e);
      });
    });

  experiments
    .command("list")
    .description("list experiments, newest first")
    .option("--status <status>", "draft, running, paused or stopped")
    .option("--system <system>", "only this system's")
    .action(async (opts: { status?: string; system?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<ExperimentView>>("/experiments", {
        status: opts.status,
        system: opts.system,
      });
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "ID", value: (e) => e.id },
            { header: "NAME", value: (e) => e.name },
            { header: "STATUS", value: (e) => e.status },
            { header: "SCOPE", value: (e) => (e.agent ? `${e.system}/${e.agent}` : e.system) },
            { header: "UNIT", value: (e) => e.unit },
            { header: "ARMS", value: armsText },
          ],
          "No experiments.",
        ),
      );
    });

  experiments
    .command("show")
    .description("show one experiment")
    .argument("<id>", "experiment id", positiveInt("experiment id"))
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      emit(json, await api.get<ExperimentView>(`/experiments/${seg(id)}`), showExperiment);
    });

  for (const [verb, description] of [
    ["start", "start (or resume) an experiment"],
    ["pause", "pause an experiment: traffic returns to the champions"],
  ] as const) {
    experiments
      .command(verb)
      .description(description)
      .argument("<id>", "experiment id", positiveInt("experiment id"))
      .action(async (id: number, _opts: unknown, cmd: Command) => {
        const { api, json } = context(cmd);
        const e = await api.post<ExperimentView>(`/experiments/${seg(id)}/${verb}`, undefined);
        emit(json, e, () => print(`experiment ${e.id} '${e.name}': ${e.status}`));
      });
  }

  experiments
    .command("stop")
    .description("stop an experiment for good")
    .argument("<id>", "experiment id", positiveInt("experiment id"))
    .option("--reason <text>", "why, for the audit log")
    .action(async (id: number, opts: { reason?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const e = await api.post<ExperimentView>(`/experiments/${seg(id)}/stop`, { reason: opts.reason });
      emit(json, e, () => print(`experiment ${e.id} '${e.name}': stopped (${e.end_reason})`));
    });

  experiments
    .command("report")
    .description("per-arm statistics, comparisons with the control, SRM, power and ROI")
    .argument("<id>", "experiment id", positiveInt("experiment id"))
    .option("--mde <x>", "minimum detectable effect, relative (0.05 = 5%)", between("--mde", 0, 10), 0.05)
    .option("--alpha <a>", "significance level", between("--alpha", 0, 0.5), 0.05)
    .option("--power <p>", "power for the units-needed line", between("--power", 0.5, 1), 0.8)
    .option(
      "--evaluation-cost <usd>",
      "one-off evaluation cost added to the ROI's training cost",
      nonNegativeNumber("--evaluation-cost"),
      0,
    )
    .action(
      async (
        id: number,
        opts: { mde: number; alpha: number; power: number; evaluationCost: number },
        cmd: Command,
      ) => {
        const { api, json } = context(cmd);
        const report = await api.get<Report>(`/experiments/${seg(id)}/report`, {
          mde: opts.mde,
          alpha: opts.alpha,
          power: opts.power,
          evaluation_cost_usd: opts.evaluationCost,
        });
        emit(json, report, (r) => printReport(r, opts.power));
      },
    );

  experiments
    .command("promote")
    .description("make an arm's versions the champions and conclude the experiment")
    .argument("<id>", "experiment id", positiveInt("experiment id"))
    .argument("<arm>", "the arm to promote")
    .option("--force", "promote even though the sample-ratio check is flagged (recorded in the audit log)")
    .option("--reason <text>", "why, for the audit log and the alias history")
    .action(async (id: number, arm: string, opts: { force?: boolean; reason?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      let result: PromoteResult;
      try {
        result = await api.post<PromoteResult>(`/experiments/${seg(id)}/promote`, {
          arm,
          force: opts.force === true,
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
      } catch (err) {
        // The server speaks API ("force: true"); say what it is on the command line.
        if (err instanceof CliError && err.message.endsWith("(srm_detected)"))
          throw new CliError(
            `${err.message}; to promote anyway: agentgate experiments promote ${id} ${arm} --force`,
          );
        throw err;
      }
      emit(json, result, printPromotion);
    });
}
