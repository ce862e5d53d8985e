/**
 * The three Grafana dashboards, built from the metric catalog: every selector is made by `sel()`,
 * which adds the dashboard's filters ($system, $agent, $arm) only for the labels the metric
 * really has, and `npm run dashboards` refuses to write a query that names a metric, a label or
 * a label value the code does not emit (check.ts).
 *
 * Label meanings (src/gateway/call-record.ts): `version` is the version that served the call
 * ("none" if none did), `arm` the experiment arm ("none" outside experiments), `route` pinned |
 * experiment | champion | fallback ("none" when the call was refused before routing), `status`
 * the HTTP status code as a string (499: the client went away).
 */
import type { MetricDescription } from "../metrics.js";
import { rolloutDashboard } from "./dashboard-rollouts.js";
import { buildDashboard, type DashboardSpec, type PanelSpec } from "./grafana.js";
import {
  ERR,
  IN_EXPERIMENT,
  quantile,
  ratio,
  selectorFactory,
  sumRate,
  timeseries,
  variables,
} from "./queries.js";

/** Traffic, errors, latency percentiles, tokens and cost by agent and version. */
export function overviewDashboard(catalog: MetricDescription[]): DashboardSpec {
  const sel = selectorFactory(catalog);
  const calls = sel("requests_total");
  const agentVersion = ["system", "agent", "version"];
  const stat = (title: string, description: string, expr: string, unit: string): PanelSpec => ({
    kind: "stat",
    title,
    description,
    width: 4,
    unit,
    targets: [{ expr }],
  });
  return {
    uid: "agentgate-overview",
    title: "agentgate / gateway overview",
    description:
      "Proxied calls of every agent: traffic, errors, latency, tokens and cost by agent and version.",
    tags: ["agentgate"],
    variables: variables(catalog),
    rows: [
      {
        row: "Now",
        panels: [
          stat("Calls per second", "All proxied chat completion calls.", sumRate(calls), "reqps"),
          stat(
            "5xx answers",
            "Share of calls answered with a 5xx status (502 upstream failed, 503 no routable version, 504 upstream timeout).",
            ratio(sel("requests_total", [ERR]), calls),
            "percentunit",
          ),
          stat(
            "Latency p95",
            "95th percentile of the total call time as the gateway sees it.",
            quantile(0.95, sel("request_duration_seconds_bucket")),
            "s",
          ),
          stat(
            "Time to first token p95",
            "Streamed calls only: time from the request to the first content token.",
            quantile(0.95, sel("time_to_first_token_seconds_bucket")),
            "s",
          ),
          stat(
            "Cost per hour",
            "USD per hour at the current rate, from each version's pricing or the price table (unpriced models count nothing).",
            `${sumRate(sel("cost_usd_total"))} * 3600`,
            "currencyUSD",
          ),
          stat(
            "Tokens per second",
            "Prompt + completion tokens.",
            sumRate(sel("tokens_total", ['type!="cached"'])),
            "short",
          ),
        ],
      },
      {
        row: "Traffic",
        panels: [
          {
            kind: "timeseries",
            title: "Calls per second by agent and version",
            description: "`version` is the version that served the call (after a fallback: the champion's).",
            width: 12,
            unit: "reqps",
            stack: true,
            targets: [{ expr: sumRate(calls, agentVersion), legend: "{{system}}/{{agent}} v{{version}}" }],
          },
          {
            kind: "timeseries",
            title: "Calls per second by route",
            description:
              "pinned: an operator pin; champion: the default route; experiment: an arm of a running experiment; fallback: an experimental call served by the champion after an upstream fault; none: refused before routing (unknown agent, bad request).",
            width: 6,
            unit: "reqps",
            stack: true,
            targets: [{ expr: sumRate(calls, ["route"]), legend: "{{route}}" }],
          },
          {
            kind: "timeseries",
            title: "Calls per second by HTTP status",
            description: "499: the client closed the connection before the answer.",
            width: 6,
            unit: "reqps",
            stack: true,
            targets: [{ expr: sumRate(calls, ["status"]), legend: "{{status}}" }],
          },
        ],
      },
      {
        row: "Errors",
        panels: [
          {
            kind: "timeseries",
            title: "5xx answers by agent and version",
            description: "Share of each version's calls answered with a 5xx status.",
            width: 12,
            unit: "percentunit",
            targets: [
              {
                expr: ratio(sel("requests_total", [ERR]), calls, agentVersion),
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          },
          {
            kind: "timeseries",
            title: "Upstream errors by class",
            description:
              "Failed upstream attempts, including those a fallback rescued (the client saw no error): connect_error, timeout_*, reset, upstream_5xx, upstream_4xx, malformed, aborted.",
            width: 12,
            unit: "reqps",
            stack: true,
            targets: [
              {
                expr: sumRate(sel("upstream_errors_total"), ["system", "agent", "error_class"]),
                legend: "{{system}}/{{agent}} {{error_class}}",
              },
            ],
          },
        ],
      },
      {
        row: "Latency",
        panels: [
          {
            kind: "timeseries",
            title: "Latency percentiles",
            description: "Total call time as the gateway sees it, all selected calls.",
            width: 12,
            unit: "s",
            targets: [0.5, 0.95, 0.99].map((q) => ({
              expr: quantile(q, sel("request_duration_seconds_bucket")),
              legend: `p${Math.round(q * 100)}`,
            })),
          },
          {
            kind: "timeseries",
            title: "Latency p95 by agent and version",
            description: "95th percentile of the total call time per serving version.",
            width: 12,
            unit: "s",
            targets: [
              {
                expr: quantile(0.95, sel("request_duration_seconds_bucket"), agentVersion),
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          },
          {
            kind: "timeseries",
            title: "Upstream p95 and gateway overhead p99",
            description:
              "Upstream: time waiting on the provider to the end of its answer. Overhead: the gateway's own time (total minus upstream), by agent only.",
            width: 12,
            unit: "s",
            targets: [
              {
                expr: quantile(0.95, sel("upstream_duration_seconds_bucket"), ["system", "agent"]),
                legend: "upstream p95 {{system}}/{{agent}}",
              },
              {
                expr: quantile(0.99, sel("gateway_overhead_seconds_bucket"), ["system", "agent"]),
                legend: "overhead p99 {{system}}/{{agent}}",
              },
            ],
          },
          {
            kind: "timeseries",
            title: "Time to first token by agent and version",
            description: "Streamed calls only.",
            width: 12,
            unit: "s",
            targets: [0.5, 0.95].map((q) => ({
              expr: quantile(q, sel("time_to_first_token_seconds_bucket"), agentVersion),
              legend: `p${Math.round(q * 100)} {{system}}/{{agent}} v{{version}}`,
            })),
          },
        ],
      },
      {
        row: "Tokens and cost",
        panels: [
          {
            kind: "timeseries",
            title: "Tokens per second by type",
            description:
              "prompt, completion, and cached (the part of the prompt the provider served from cache).",
            width: 8,
            unit: "short",
            targets: [{ expr: sumRate(sel("tokens_total"), ["type"]), legend: "{{type}}" }],
          },
          {
            kind: "timeseries",
            title: "Tokens per second by agent and version",
            description: "Prompt + completion tokens.",
            width: 8,
            unit: "short",
            stack: true,
            targets: [
              {
                expr: sumRate(sel("tokens_total", ['type!="cached"']), agentVersion),
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          },
          {
            kind: "timeseries",
            title: "Cost per hour by agent and version",
            description: "USD per hour at the current rate.",
            width: 8,
            unit: "currencyUSD",
            stack: true,
            targets: [
              {
                expr: `${sumRate(sel("cost_usd_total"), agentVersion)} * 3600`,
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          },
          {
            kind: "timeseries",
            title: "Cost per call by agent and version",
            description: "USD per call, over all of the version's calls (errors included).",
            width: 24,
            unit: "currencyUSD",
            targets: [
              {
                expr: `${sumRate(sel("cost_usd_total"), agentVersion)} / ${sumRate(calls, agentVersion)}`,
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Arms side by side: traffic share, latency, errors, cost per call, feedback, auto-rollbacks. */
export function experimentDashboard(catalog: MetricDescription[]): DashboardSpec {
  const sel = selectorFactory(catalog);
  const calls = sel("requests_total", [IN_EXPERIMENT]);
  const arm = ["arm"];
  const ts = timeseries;
  return {
    uid: "agentgate-experiments",
    title: "agentgate / experiment A/B",
    description:
      "The arms of the experiments on the selected agents, side by side. The report (agentgate experiments report) has the statistics.",
    tags: ["agentgate"],
    variables: variables(catalog, [IN_EXPERIMENT]),
    rows: [
      {
        row: "Arms",
        panels: [
          {
            kind: "text",
            title: "Reading this dashboard",
            description: "",
            width: 24,
            height: 4,
            markdown: [
              "Live view of the arms of running experiments, from Prometheus. Select the **system** and **agent** of one experiment (arm names are per experiment). The first arm of an experiment is its **control**.",
              "Intervals, p-values, sample-ratio checks, per-run feedback estimates and ROI come from the database: `agentgate experiments report <id>`. Guardrails act on those statistics, not on these graphs.",
              "Calls are counted in their **assigned** arm; a fallback (served by the champion after an upstream fault) stays in its arm, as the report counts it.",
            ].join("\n\n"),
          },
          ts(
            "Traffic share by arm",
            "Share of the selected agents' experiment calls assigned to each arm.",
            "percentunit",
            [
              {
                expr: `${sumRate(calls, arm)} / on () group_left ${sumRate(
                  sel("requests_total", [IN_EXPERIMENT], ["system", "agent"]),
                )}`,
                legend: "{{arm}}",
              },
            ],
          ),
          ts(
            "Calls per second by arm and route",
            "route=fallback: the champion served the arm's call after an upstream fault.",
            "reqps",
            [{ expr: sumRate(calls, ["arm", "route"]), legend: "{{arm}} {{route}}" }],
          ),
        ],
      },
      {
        row: "Errors and latency",
        panels: [
          ts("5xx answers by arm", "Share of each arm's calls answered with a 5xx status.", "percentunit", [
            { expr: ratio(sel("requests_total", [ERR, IN_EXPERIMENT]), calls, arm), legend: "{{arm}}" },
          ]),
          ts(
            "Fallbacks by arm",
            "Share of each arm's calls that failed upstream and were served by the champion. The report counts a fallback as the arm's error.",
            "percentunit",
            [{ expr: ratio(sel("fallbacks_total", [IN_EXPERIMENT]), calls, arm), legend: "{{arm}}" }],
          ),
          ts("Latency by arm", "Total call time, p50 and p95.", "s", [
            {
              expr: quantile(0.5, sel("request_duration_seconds_bucket", [IN_EXPERIMENT]), arm),
              legend: "p50 {{arm}}",
            },
            {
              expr: quantile(0.95, sel("request_duration_seconds_bucket", [IN_EXPERIMENT]), arm),
              legend: "p95 {{arm}}",
            },
          ]),
          ts("Time to first token p95 by arm", "Streamed calls only.", "s", [
            {
              expr: quantile(0.95, sel("time_to_first_token_seconds_bucket", [IN_EXPERIMENT]), arm),
              legend: "{{arm}}",
            },
          ]),
        ],
      },
      {
        row: "Cost",
        panels: [
          ts("Cost per call by arm", "USD per call, over all of the arm's calls.", "currencyUSD", [
            {
              expr: `${sumRate(sel("cost_usd_total", [IN_EXPERIMENT]), arm)} / ${sumRate(calls, arm)}`,
              legend: "{{arm}}",
            },
          ]),
          ts("Tokens per call by arm", "Prompt and completion tokens per call.", "short", [
            {
              expr: `${sumRate(sel("tokens_total", [IN_EXPERIMENT, 'type!="cached"']), ["arm", "type"])} / on (arm) group_left ${sumRate(calls, arm)}`,
              legend: "{{arm}} {{type}}",
            },
          ]),
        ],
      },
      {
        row: "Feedback and guardrails",
        panels: [
          ts(
            "Feedback mean by arm",
            "Mean feedback value per arm and metric since the replicas started (boolean metrics: the share of true). A call's feedback counts for its arm, a workflow run's for the arm of its calls. Per value, not per run: the report's per-unit estimate is the one to decide on.",
            "short",
            [
              {
                expr: `sum by (arm, metric) (${sel("feedback_value_sum", [IN_EXPERIMENT])}) / sum by (arm, metric) (${sel("feedback_value_count", [IN_EXPERIMENT])})`,
                legend: "{{metric}} {{arm}}",
              },
            ],
          ),
          {
            kind: "bargauge",
            title: "Feedback values received by arm",
            description: "Feedback values per arm and metric since the replicas started.",
            width: 12,
            unit: "short",
            targets: [
              {
                expr: `sum by (arm, metric) (${sel("feedback_value_count", [IN_EXPERIMENT])})`,
                legend: "{{metric}} {{arm}}",
                instant: true,
              },
            ],
          },
          {
            kind: "table",
            title: "Automatic rollbacks",
            description:
              "Experiments a guardrail breach stopped (their agents went back to the control arm's versions), seen in the time range. The evidence is in `agentgate audit --action experiment.auto_rollback`.",
            width: 24,
            height: 6,
            targets: [
              {
                expr: `sum by (system, agent, experiment) (max_over_time(${sel("auto_rollbacks_total", [], ["system"])}[$__range]))`,
                instant: true,
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Every dashboard, by the file name it is written to under dashboards/. */
export function dashboards(catalog: MetricDescription[]): Record<string, Record<string, unknown>> {
  return {
    "agentgate-overview.json": buildDashboard(overviewDashboard(catalog)),
    "agentgate-experiments.json": buildDashboard(experimentDashboard(catalog)),
    "agentgate-rollouts.json": buildDashboard(rolloutDashboard(catalog)),
  };
}
