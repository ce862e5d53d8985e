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
import { buildDashboard, type DashboardSpec, type PanelSpec, type VariableSpec } from "./grafana.js";

const P = "agentgate_";
/** Grafana's rate window: at least four scrape intervals, so a rate always has two samples. */
const W = "$__rate_interval";

type Scope = "system" | "agent" | "arm";
const ALL_SCOPES: Scope[] = ["system", "agent", "arm"];

/** Selector builder bound to the catalog: `sel("requests_total", ['status=~"5.."'])`. */
function selectorFactory(catalog: MetricDescription[]) {
  const labelsOf = (series: string): string[] => {
    for (const name of [series, series.replace(/_(bucket|sum|count)$/, "")]) {
      const d = catalog.find((m) => m.name === P + name);
      if (d) return d.labels;
    }
    throw new Error(`no metric ${P}${series} in the catalog`);
  };
  return (series: string, extra: string[] = [], scopes: Scope[] = ALL_SCOPES): string => {
    const labels = labelsOf(series);
    const matchers = [...scopes.filter((s) => labels.includes(s)).map((s) => `${s}=~"$${s}"`), ...extra];
    return `${P}${series}${matchers.length > 0 ? `{${matchers.join(", ")}}` : ""}`;
  };
}

const by = (labels: string[]) => (labels.length > 0 ? ` by (${labels.join(", ")})` : "");
const sumRate = (selector: string, labels: string[] = [], window = W) =>
  `sum${by(labels)} (rate(${selector}[${window}]))`;
/** num/den per group, 0 (not "no data") for a group with calls but no numerator series. */
const ratio = (num: string, den: string, labels: string[] = []) =>
  `(${sumRate(num, labels)} or 0 * ${sumRate(den, labels)}) / ${sumRate(den, labels)}`;
const quantile = (q: number, bucketSelector: string, labels: string[] = []) =>
  `histogram_quantile(${q}, ${sumRate(bucketSelector, ["le", ...labels])})`;

const ERR = 'status=~"5.."';
const IN_EXPERIMENT = 'arm!="none"';

function variables(catalog: MetricDescription[], armFilter: string[] = []): VariableSpec[] {
  const calls = `${P}requests_total`;
  if (!catalog.some((m) => m.name === calls)) throw new Error(`no ${calls} in the catalog`);
  return [
    { name: "system", label: "System", metric: calls, selector: calls },
    { name: "agent", label: "Agent", metric: calls, selector: `${calls}{system=~"$system"}` },
    {
      name: "arm",
      label: "Arm",
      metric: calls,
      selector: `${calls}{${['system=~"$system"', 'agent=~"$agent"', ...armFilter].join(", ")}}`,
    },
  ];
}

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
  const ts = (
    title: string,
    description: string,
    unit: string,
    targets: { expr: string; legend: string }[],
    width = 12,
  ): PanelSpec => ({ kind: "timeseries", title, description, width, unit, targets });
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

/** Pins and alias moves as traffic sees them, fallbacks, routing reloads, the event pipeline. */
export function rolloutDashboard(catalog: MetricDescription[]): DashboardSpec {
  const sel = selectorFactory(catalog);
  const agentVersion = ["system", "agent", "version"];
  const ts = (
    title: string,
    description: string,
    unit: string,
    targets: { expr: string; legend: string }[],
    width = 12,
  ): PanelSpec => ({ kind: "timeseries", title, description, width, unit, targets });
  const perReplica = (series: string) => `sum by (instance) (${sel(series)})`;
  return {
    uid: "agentgate-rollouts",
    title: "agentgate / registry and rollouts",
    description:
      "Where traffic goes (pins, champions, experiments, fallbacks), how fast routing changes reach the replicas, and the health of the event pipeline.",
    tags: ["agentgate"],
    variables: variables(catalog),
    rows: [
      {
        row: "Where traffic goes",
        panels: [
          ts(
            "Calls per second by route",
            "pinned, champion, experiment, fallback; none = refused before routing.",
            "reqps",
            [{ expr: sumRate(sel("requests_total"), ["route"]), legend: "{{route}}" }],
          ),
          ts(
            "Champion traffic by version",
            "Calls on the champion route by serving version. A champion alias move (promotion, `agentgate alias`, `agentgate rollback`) shows as traffic switching from one version's line to another's.",
            "reqps",
            [
              {
                expr: sumRate(sel("requests_total", ['route="champion"']), agentVersion),
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          ),
          ts(
            "Pinned traffic by version",
            "Calls routed by a pin (`agentgate pin`), which outranks experiments and the champion. A pin that should have been lifted shows here.",
            "reqps",
            [
              {
                expr: sumRate(sel("requests_total", ['route="pinned"']), agentVersion),
                legend: "{{system}}/{{agent}} v{{version}}",
              },
            ],
          ),
          ts(
            "Fallbacks per second",
            "Experimental calls served by the champion after an upstream fault, by agent, assigned version and arm.",
            "reqps",
            [
              {
                expr: sumRate(sel("fallbacks_total"), ["system", "agent", "version", "arm"]),
                legend: "{{system}}/{{agent}} v{{version}} {{arm}}",
              },
            ],
          ),
          {
            kind: "text",
            title: "Who changed what",
            description: "",
            width: 24,
            height: 3,
            markdown:
              "Pins, alias moves, rollbacks and automatic rollbacks are audited with who, why and before/after: `agentgate audit` (or `GET /api/v1/audit`). These panels show their effect on traffic.",
          },
        ],
      },
      {
        row: "Routing table",
        panels: [
          ts(
            "Routing table reloads by replica",
            "Every configuration change (NOTIFY) and the safety-net poll rebuild each replica's routing table. result=error: the replica keeps serving its last good table.",
            "short",
            [
              {
                expr: `sum by (instance, result) (increase(${sel("routing_reloads_total")}[${W}]))`,
                legend: "{{instance}} {{result}}",
              },
            ],
          ),
          ts(
            "Agents in the routing table by replica",
            "Replicas that disagree for more than a few seconds have missed a change.",
            "short",
            [{ expr: perReplica("routing_table_agents"), legend: "{{instance}}" }],
          ),
        ],
      },
      {
        row: "Event pipeline",
        panels: [
          ts(
            "Calls and events per second",
            "Every call produces one inference event, written in batches off the request path. Spooled: written to the local disk spool while the database was unavailable, replayed later.",
            "reqps",
            [
              { expr: sumRate(sel("requests_total", [], [])), legend: "calls" },
              { expr: sumRate(sel("events_written_total")), legend: "events written" },
              { expr: sumRate(sel("events_spooled_total")), legend: "events spooled" },
            ],
            8,
          ),
          ts(
            "Queue depth and spool backlog by replica",
            "Events waiting in memory, and events on disk waiting for the database. A growing backlog means the database is not taking writes.",
            "short",
            [
              { expr: perReplica("events_queue_depth"), legend: "queue {{instance}}" },
              { expr: perReplica("events_spool_pending"), legend: "spool {{instance}}" },
            ],
            8,
          ),
          {
            kind: "stat",
            title: "Events lost in the time range",
            description:
              "Events that could be written neither to the database nor to the disk spool. Must stay 0.",
            width: 8,
            unit: "short",
            thresholds: [[1, "red"]],
            targets: [{ expr: `sum(increase(${sel("events_dropped_total")}[$__range]))` }],
          },
        ],
      },
      {
        row: "Replicas",
        panels: [
          ts(
            "Resident memory by replica",
            "Process RSS.",
            "bytes",
            [{ expr: perReplica("process_resident_memory_bytes"), legend: "{{instance}}" }],
            8,
          ),
          ts(
            "Event loop lag p99 by replica",
            "A busy event loop delays every call on the replica.",
            "s",
            [{ expr: perReplica("nodejs_eventloop_lag_p99_seconds"), legend: "{{instance}}" }],
            8,
          ),
          ts(
            "Gateway overhead p99 by replica",
            "The gateway's own time per call (total minus upstream).",
            "s",
            [
              {
                expr: `histogram_quantile(0.99, sum by (instance, le) (rate(${sel("gateway_overhead_seconds_bucket")}[${W}])))`,
                legend: "{{instance}}",
              },
            ],
            8,
          ),
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
