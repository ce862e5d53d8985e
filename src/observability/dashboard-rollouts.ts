/**
 * The registry and rollouts dashboard: where traffic goes (pins, champions, experiments,
 * fallbacks), routing reloads, the event pipeline, MLflow syncs, fine-tune jobs and the replicas.
 */
import type { MetricDescription } from "../metrics.js";
import type { DashboardSpec } from "./grafana.js";
import { selectorFactory, sumRate, timeseries, variables, W } from "./queries.js";

/** Pins and alias moves as traffic sees them, fallbacks, routing reloads, the event pipeline. */
export function rolloutDashboard(catalog: MetricDescription[]): DashboardSpec {
  const sel = selectorFactory(catalog);
  const agentVersion = ["system", "agent", "version"];
  const ts = timeseries;
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
        row: "MLflow and fine-tunes",
        panels: [
          ts(
            "MLflow syncs by outcome",
            "partial: some objects failed (the sync report lists them); error: MLflow unreachable, too slow or refusing the credentials; busy: another sync held the lease.",
            "short",
            [
              {
                expr: `sum by (outcome) (increase(${sel("mlflow_syncs_total")}[${W}]))`,
                legend: "{{outcome}}",
              },
            ],
            12,
          ),
          ts(
            "Fine-tune jobs ended by status",
            "Fine-tune jobs that reached an end, counted once by the replica that recorded it: succeeded jobs registered one fine_tuned version per agent; failed and cancelled ones keep the trainer's error (`agentgate finetune status <job>`).",
            "short",
            [
              {
                expr: `sum by (status) (increase(${sel("fine_tunes_ended_total")}[${W}]))`,
                legend: "{{status}}",
              },
            ],
            12,
          ),
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
