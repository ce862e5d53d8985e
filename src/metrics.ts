/**
 * The one catalog of Prometheus metrics. Every metric agentgate exports is declared here, with
 * its help text and label names; dashboards and alert rules are checked against this catalog.
 *
 * Labels are bounded by design: system, agent, version, arm, route, status and error class —
 * never request, session or user ids, which would create a series per call.
 * Each instance gets its own registry (tests run several instances in one process).
 */
import client from "prom-client";
import { type CounterSeries, type HistogramSeries, KeyedCounter, KeyedHistogram } from "./keyed-metrics.js";

const P = "agentgate_";

/**
 * prom-client's default Node.js metrics that are gauges named `..._total`; Prometheus' naming
 * rules (`promtool check metrics`) reserve that suffix for counters, and each is the sum of a
 * by-type gauge that stays (`agentgate_nodejs_active_handles` etc.), so they are not exported.
 */
const MISNAMED_DEFAULT_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** What `catalog()` says about one exported metric family. */
export type MetricDescription = {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary";
  help: string;
  labels: string[];
  /** True for prom-client's default process and Node.js metrics. */
  runtime: boolean;
};

/** Seconds; covers a fast cached answer (5 ms) to a long generation (2 min). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const CALL = ["system", "agent", "version", "arm", "route"] as const;

export function createMetrics() {
  const registry = new client.Registry();
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new client.Counter<L>({ name: P + name, help, labelNames, registers: [registry] });
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (this: client.Gauge<L>) => void,
  ) =>
    new client.Gauge<L>({
      name: P + name,
      help,
      labelNames,
      registers: [registry],
      ...(collect ? { collect } : {}),
    });
  // The per-call families (updated several times per proxied call) keep their series keyed.
  const keyedCounter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new KeyedCounter<L>(P + name, help, labelNames, registry);
  const keyedHistogram = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new KeyedHistogram<L>(P + name, help, labelNames, registry, LATENCY_BUCKETS);
  // When the routing table was last swapped in (ms since epoch; 0 = never), read at scrape time.
  let routingBuiltAt = () => 0;
  /** Only `_sum` and `_count` (no quantiles): a mean that Prometheus can aggregate across replicas. */
  const mean = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new client.Summary<L>({ name: P + name, help, labelNames, percentiles: [], registers: [registry] });
  /** The metrics declared here, as opposed to prom-client's default runtime metrics. */
  const own = new Set<string>();

  const callSeries = new Map<string, CallSeries>();
  const metrics = {
    registry,
    requestsTotal: keyedCounter("requests_total", "Proxied chat completion calls, by outcome", [
      ...CALL,
      "status",
    ]),
    requestDuration: keyedHistogram(
      "request_duration_seconds",
      "Total time of a proxied call as seen by the gateway",
      CALL,
    ),
    upstreamDuration: keyedHistogram(
      "upstream_duration_seconds",
      "Time spent waiting on the upstream, to the end of its answer",
      CALL,
    ),
    timeToFirstToken: keyedHistogram(
      "time_to_first_token_seconds",
      "Time from the request to the first content token of a streamed answer",
      CALL,
    ),
    overhead: keyedHistogram("gateway_overhead_seconds", "Gateway time excluding the upstream call", [
      "system",
      "agent",
    ]),
    tokensTotal: keyedCounter("tokens_total", "Tokens used, by type (prompt, completion, cached)", [
      ...CALL,
      "type",
    ]),
    costUsdTotal: keyedCounter("cost_usd_total", "Cost of proxied calls in USD, from the price table", CALL),
    upstreamErrorsTotal: counter(
      "upstream_errors_total",
      "Failed upstream attempts, by error class (a call the client cancelled is not one: see requests_total status 499)",
      [...CALL, "error_class"],
    ),
    fallbacksTotal: counter(
      "fallbacks_total",
      "Experimental calls retried on the champion after an upstream fault",
      ["system", "agent", "version", "arm"],
    ),
    eventsWrittenTotal: counter("events_written_total", "Inference events written to the database"),
    eventBatchesTotal: counter(
      "event_batches_total",
      "Event batches written to the database (one statement each, unless the database refused a value in it and it went event by event; events per batch: events_written_total ÷ this)",
    ),
    eventsSpooledTotal: counter(
      "events_spooled_total",
      "Inference events written to the disk spool while the database was unavailable",
    ),
    eventsDroppedTotal: counter("events_dropped_total", "Inference events lost (must stay 0)"),
    eventsQueueDepth: gauge("events_queue_depth", "Inference events waiting in memory to be written"),
    eventsSpoolPending: gauge(
      "events_spool_pending",
      "Inference events on disk waiting to be replayed into the database",
    ),
    routingReloadsTotal: counter("routing_reloads_total", "Routing table rebuilds, by result", ["result"]),
    routingAgents: gauge("routing_table_agents", "Agents in the current routing table"),
    routingTableAge: gauge(
      "routing_table_age_seconds",
      "Seconds since the routing table was last rebuilt",
      [],
      function collect() {
        const builtAt = routingBuiltAt();
        this.set(builtAt > 0 ? (Date.now() - builtAt) / 1000 : 0);
      },
    ),
    /** Where `routing_table_age_seconds` reads the routing table's build time from. */
    trackRoutingTable(builtAt: () => number): void {
      routingBuiltAt = builtAt;
    },
    autoRollbacksTotal: counter("auto_rollbacks_total", "Experiments stopped by a guardrail breach", [
      "system",
      "agent",
      "experiment",
    ]),
    fineTunesEndedTotal: counter(
      "fine_tunes_ended_total",
      "Fine-tune jobs that reached an end, by status (succeeded, failed, cancelled)",
      ["status"],
    ),
    mlflowSyncsTotal: counter(
      "mlflow_syncs_total",
      "MLflow syncs (not dry runs), by outcome: ok, partial (some items failed), error (stopped), busy (another sync held the lease)",
      ["outcome"],
    ),
    mlflowSyncItemsTotal: counter(
      "mlflow_sync_items_total",
      "Objects handled by MLflow syncs, by action (created, updated, deleted, unchanged, skipped, failed)",
      ["action"],
    ),
    mlflowLastSuccess: gauge(
      "mlflow_last_success_timestamp_seconds",
      "When the last MLflow sync without a failed item finished (Unix seconds; 0 = none since start)",
    ),
    feedbackTotal: counter("feedback_total", "Feedback values received, by metric and level", [
      "metric",
      "level",
    ]),
    /**
     * Feedback values attributed to the experiment arm of their target, as the report attributes
     * them: a call's feedback to its event's arm, a run's to every arm its events were in
     * (`experiment` and `arm` are "none" outside experiments). `_sum / _count` is the live mean
     * per value; the report's per-unit estimates and intervals come from the database.
     */
    feedbackValue: mean("feedback_value", "Feedback values by experiment arm: sum and count", [
      "system",
      "experiment",
      "arm",
      "metric",
    ]),
    /** The per-call series of one label set, looked up once per call (see `CallSeries`). */
    callSeries(labels: CallLabels): CallSeries {
      const key = `${labels.system}\u0000${labels.agent}\u0000${labels.version}\u0000${labels.arm}\u0000${labels.route}`;
      let s = callSeries.get(key);
      if (!s) {
        s = new CallSeries(metrics, { ...labels });
        callSeries.set(key, s);
      }
      return s;
    },
    /** Every metric name above, for checks of dashboards and alert rules against the catalog. */
    names(): string[] {
      return registry.getMetricsAsArray().map((m) => m.name);
    },
    /** Every exported metric family with its type, help and label names. */
    catalog(): MetricDescription[] {
      return registry.getMetricsAsArray().map((m) => ({
        name: m.name,
        type: typeOf(m),
        help: m.help,
        labels: [...((m as { labelNames?: readonly string[] }).labelNames ?? [])],
        runtime: !own.has(m.name),
      }));
    },
  };
  for (const m of registry.getMetricsAsArray()) own.add(m.name);
  client.collectDefaultMetrics({ register: registry, prefix: P });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(P + name);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

function typeOf(m: object): MetricDescription["type"] {
  return (m as { type: MetricDescription["type"] }).type;
}

type TokenType = "prompt" | "completion" | "cached";

export type CallLabels = Record<(typeof CALL)[number], string>;

/**
 * The series a proxied call updates, for one label set: created on first use (a series appears
 * in `/metrics` only once it has a value, as with prom-client), then kept, so each call costs
 * one map lookup instead of a label hash per update.
 */
export class CallSeries {
  private readonly byStatus = new Map<number, CounterSeries>();
  private _duration?: HistogramSeries;
  private _upstream?: HistogramSeries;
  private _ttft?: HistogramSeries;
  private _overhead?: HistogramSeries;
  private readonly _tokens: Partial<Record<TokenType, CounterSeries>> = {};
  private _cost?: CounterSeries;

  constructor(
    private readonly m: Metrics,
    readonly labels: CallLabels,
  ) {}

  requests(status: number): CounterSeries {
    let s = this.byStatus.get(status);
    if (!s) {
      s = this.m.requestsTotal.series({ ...this.labels, status: String(status) });
      this.byStatus.set(status, s);
    }
    return s;
  }
  get duration(): HistogramSeries {
    this._duration ??= this.m.requestDuration.series(this.labels);
    return this._duration;
  }
  get upstream(): HistogramSeries {
    this._upstream ??= this.m.upstreamDuration.series(this.labels);
    return this._upstream;
  }
  get ttft(): HistogramSeries {
    this._ttft ??= this.m.timeToFirstToken.series(this.labels);
    return this._ttft;
  }
  get overhead(): HistogramSeries {
    this._overhead ??= this.m.overhead.series(this.labels);
    return this._overhead;
  }
  tokens(type: TokenType): CounterSeries {
    this._tokens[type] ??= this.m.tokensTotal.series({ ...this.labels, type });
    return this._tokens[type];
  }
  get cost(): CounterSeries {
    this._cost ??= this.m.costUsdTotal.series(this.labels);
    return this._cost;
  }
}
