/** `agentgate metrics create|list|show`: the metrics experiments are judged on. */
import { type Command, Option } from "commander";
import { DIRECTIONS, METRIC_TYPES, type MetricView } from "../../experiments/metrics.js";
import { type List, seg } from "../client.js";
import { context } from "../context.js";
import { emit, print, printFields, printTable } from "../output.js";

function showMetric(m: MetricView): void {
  printFields([
    ["name", m.name],
    ["type", m.type],
    ["direction", `${m.direction} is better`],
    ["built_in", m.built_in],
    ["description", m.description],
    ["created_by", m.created_by],
    ["created_at", m.created_at],
  ]);
}

export function registerMetrics(program: Command): void {
  const metrics = program
    .command("metrics")
    .description(
      "metrics experiments are judged on: declared ones take feedback, built-in ones come from calls",
    );

  metrics
    .command("create")
    .description("declare a metric, so feedback can be sent for it and experiments can name it")
    .argument("<name>", "metric name")
    .addOption(new Option("--type <type>", "value type").choices(METRIC_TYPES).makeOptionMandatory())
    .addOption(
      new Option("--direction <direction>", "which values are better")
        .choices(DIRECTIONS)
        .makeOptionMandatory(),
    )
    .option("--description <text>", "what it measures")
    .action(
      async (name: string, opts: { type: string; direction: string; description?: string }, cmd: Command) => {
        const { api, json } = context(cmd);
        const created = await api.post<MetricView>("/metrics", {
          name,
          type: opts.type,
          direction: opts.direction,
          description: opts.description,
        });
        emit(json, created, (m) => {
          print(`Declared metric '${m.name}'.`);
          showMetric(m);
        });
      },
    );

  metrics
    .command("list")
    .description("list metrics: built-in ones first, then declared ones")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<MetricView>>("/metrics");
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "NAME", value: (m) => m.name },
            { header: "TYPE", value: (m) => m.type },
            { header: "BETTER", value: (m) => m.direction },
            { header: "KIND", value: (m) => (m.built_in ? "built-in" : "declared") },
            { header: "DESCRIPTION", value: (m) => m.description },
          ],
          "No metrics.",
        ),
      );
    });

  metrics
    .command("show")
    .description("show one metric")
    .argument("<name>", "metric name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      emit(json, await api.get<MetricView>(`/metrics/${seg(name)}`), showMetric);
    });
}
