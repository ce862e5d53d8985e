/**
 * Prometheus alerting rules, written to deploy/prometheus/rules.yml by `npm run dashboards`.
 * Each rule names the sub-expression that must return data in a healthy run with traffic (its
 * `probe`: the quantity before the threshold), so the `test:prometheus` suite can prove the rule
 * sees real series, and links its runbook in docs/operations.md.
 *
 * Counters with labels appear at their first increment, already at 1, and `increase()` cannot
 * see that first step; the rollback and reload-error rules therefore also fire on a series that
 * did not exist a few minutes earlier (`x unless x offset 10m`).
 */

export type AlertRule = {
  alert: string;
  expr: string;
  /** A sub-expression of `expr` (before its threshold) that has data whenever there is traffic; null when the rule's series only exist on failure. */
  probe: string | null;
  for: string;
  severity: "critical" | "warning" | "info";
  summary: string;
  description: string;
};

/** Where the runbooks live: a heading of docs/operations.md per alert (GitHub-style anchors). */
export const RUNBOOK_DOC = "docs/operations.md";
export const runbookAnchor = (alert: string) => `runbook-${alert.toLowerCase()}`;

const CALLS = "agentgate_requests_total";
const LATENCY = "agentgate_request_duration_seconds_bucket";

const perVersion = "system, agent, version";
const errorRatio = `sum by (${perVersion}) (rate(${CALLS}{status=~"5.."}[5m]))
  / sum by (${perVersion}) (rate(${CALLS}[5m]))`;

const armP95 = `histogram_quantile(0.95, sum by (system, agent, arm, le) (rate(${LATENCY}{arm!="none"}[10m])))`;
const p95VsFastestArm = `${armP95}
  / on (system, agent) group_left
  min by (system, agent) (${armP95})`;

const spool = "agentgate_events_spool_pending";
const spoolTrend = `deriv(${spool}[10m])`;
const dropped = "increase(agentgate_events_dropped_total[5m])";
const rollbacks = "agentgate_auto_rollbacks_total";
const rollbackIncrease = `sum by (system, agent, experiment) (increase(${rollbacks}[10m]))`;
const reloadErrors = 'agentgate_routing_reloads_total{result="error"}';
const syncs = "agentgate_mlflow_syncs_total";
const failedSyncs = `sum by (instance) (increase(${syncs}{outcome=~"error|partial"}[30m]))`;

export const ALERT_RULES: AlertRule[] = [
  {
    alert: "AgentgateVersionErrorRate",
    expr: `(${errorRatio}) > 0.05
and sum by (${perVersion}) (rate(${CALLS}[5m])) > 0.05`,
    probe: errorRatio,
    for: "5m",
    severity: "critical",
    summary:
      "{{ $labels.system }}/{{ $labels.agent }} version {{ $labels.version }} answers 5xx to {{ $value | humanizePercentage }} of calls",
    description:
      "More than 5% of the calls served by this version got a 5xx answer over 5 minutes (502 upstream failed, 504 upstream timeout; version none: no routable version, 503). Roll the agent back if the version is new.",
  },
  {
    alert: "AgentgateChallengerLatencyRegression",
    expr: `(${p95VsFastestArm}) > 1.5
and sum by (system, agent, arm) (rate(${CALLS}{arm!="none"}[10m])) > 0.05`,
    probe: p95VsFastestArm,
    for: "10m",
    severity: "warning",
    summary:
      '{{ $labels.system }}/{{ $labels.agent }} arm {{ $labels.arm }}: p95 latency {{ $value | printf "%.1f" }}x the fastest arm',
    description:
      "The arm's p95 call latency has been more than 1.5 times the fastest arm's of the same agent for 10 minutes. When the arm is a challenger, pause or stop the experiment; when it is the control, the challenger is the faster one.",
  },
  {
    alert: "AgentgateEventSpoolGrowing",
    expr: `${spoolTrend} > 0 and ${spool} > 0`,
    probe: spoolTrend,
    for: "10m",
    severity: "warning",
    summary: "{{ $labels.instance }}: inference events are piling up in the disk spool",
    description:
      "The replica has been writing events to its local spool for 10 minutes and the backlog grows: the database does not take the event writes. Events are safe on disk until the spool's disk fills.",
  },
  {
    alert: "AgentgateEventsDropped",
    expr: `${dropped} > 0`,
    probe: dropped,
    for: "0m",
    severity: "critical",
    summary: "{{ $labels.instance }}: inference events lost",
    description:
      "Events could be written neither to the database nor to the disk spool (the disk failed or is full). Lost events are missing from reports, feedback attribution and datasets.",
  },
  {
    alert: "AgentgateAutoRollback",
    expr: `${rollbackIncrease} > 0
or sum by (system, agent, experiment) (${rollbacks} unless ${rollbacks} offset 10m) > 0`,
    probe: rollbackIncrease,
    for: "0m",
    severity: "warning",
    summary:
      "Experiment {{ $labels.experiment }} ({{ $labels.system }}/{{ $labels.agent }}) was rolled back by a guardrail",
    description:
      "A guardrail breach stopped the experiment and its agents' champions returned to the control arm's versions. Read the evidence before deciding what to do with the challenger.",
  },
  {
    alert: "AgentgateRoutingReloadFailing",
    expr: `sum by (instance) (increase(${reloadErrors}[5m])) > 0
or sum by (instance) (${reloadErrors} unless ${reloadErrors} offset 5m) > 0`,
    probe: null,
    for: "5m",
    severity: "warning",
    summary: "{{ $labels.instance }} cannot rebuild its routing table",
    description:
      "The replica keeps serving its last good routing table, so pins, rollbacks and experiment changes do not reach it.",
  },
  {
    // Only replicas that sync (the counter has series once a sync ran); `unless` rather than
    // `and ... == 0`, so a replica that never had a successful sync still fires.
    alert: "AgentgateMlflowSyncFailing",
    expr: `${failedSyncs} > 0
unless sum by (instance) (increase(${syncs}{outcome="ok"}[30m])) > 0`,
    probe: failedSyncs,
    for: "15m",
    severity: "warning",
    summary: "{{ $labels.instance }}: MLflow syncs keep failing; the MLflow mirror is going stale",
    description:
      "Every MLflow sync of the last 30 minutes stopped with an error or left items failed, and none succeeded. agentgate keeps routing; MLflow shows an out-of-date registry and versions registered there are not imported.",
  },
  {
    alert: "AgentgateReplicaDown",
    expr: 'up{job="agentgate"} == 0',
    probe: 'up{job="agentgate"}',
    for: "2m",
    severity: "critical",
    summary: "{{ $labels.instance }} is not answering Prometheus' scrapes",
    description:
      "The replica's /metrics has not answered for 2 minutes; its calls fail or go to the other replicas.",
  },
];

/** rules.yml, as promtool and Prometheus read it. */
export function renderRules(rules: AlertRule[] = ALERT_RULES): string {
  const q = (s: string) => JSON.stringify(s);
  const block = (s: string, indent: string) =>
    `|-\n${s
      .split("\n")
      .map((l) => indent + l)
      .join("\n")}`;
  const lines = [
    "# Generated by `npm run dashboards` from src/observability/alerts.ts: edit there, then regenerate.",
    "# Runbooks: docs/operations.md (one section per alert).",
    "groups:",
    "  - name: agentgate",
    "    rules:",
  ];
  for (const r of rules) {
    lines.push(
      `      - alert: ${r.alert}`,
      `        expr: ${block(r.expr, "          ")}`,
      `        for: ${r.for}`,
      "        labels:",
      `          severity: ${r.severity}`,
      "        annotations:",
      `          summary: ${q(r.summary)}`,
      `          description: ${q(r.description)}`,
      `          runbook_url: ${q(`${RUNBOOK_DOC}#${runbookAnchor(r.alert)}`)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
