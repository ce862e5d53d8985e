/**
 * Holds a PromQL expression to what agentgate really exports: every selected series is a metric
 * of the catalog (`createMetrics().catalog()`, with the `_bucket`/`_sum`/`_count` series of
 * histograms and summaries), every matcher names a label that metric has, every grouping label
 * exists on some selected metric, and matchers on labels with a closed set of values use values
 * the code emits. Renaming a metric or a label, or a value such as a route, fails the check.
 */
import { LEVELS } from "../experiments/feedback.js";
import type { RouteKind } from "../gateway/resolve.js";
import { UPSTREAM_ERROR_CLASSES } from "../gateway/upstream-errors.js";
import type { MetricDescription } from "../metrics.js";
import { ACTIONS } from "../mlflow/report.js";
import { analyze } from "./promql.js";

/** Labels Prometheus adds to every scraped series. */
export const TARGET_LABELS = ["job", "instance"] as const;

/** Series Prometheus itself writes for each target (not from agentgate's /metrics). */
export const SYNTHETIC_SERIES = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);

/** `route` as call-record.ts sets it: the resolution's route, "fallback", or "none" (unresolved). */
const ROUTE_VALUES: Record<RouteKind | "none", true> = {
  pinned: true,
  experiment: true,
  champion: true,
  fallback: true,
  none: true,
};

/** Labels whose values are a closed set in the code, with that set. */
export const LABEL_VALUES: Record<string, readonly string[]> = {
  route: Object.keys(ROUTE_VALUES),
  // call-record.ts: tokensTotal.inc({type: "prompt" | "completion" | "cached"})
  type: ["prompt", "completion", "cached"],
  // call-record.ts upstreamFailed: every class but `aborted` (a client's cancellation is a 499).
  error_class: UPSTREAM_ERROR_CLASSES.filter((c) => c !== "aborted"),
  level: LEVELS,
  // routing-sync.ts: routingReloadsTotal.inc({result: "ok" | "error"})
  result: ["ok", "error"],
  // mlflow/sync.ts: mlflowSyncsTotal.inc({outcome}) and mlflowSyncItemsTotal.inc({action})
  outcome: ["ok", "partial", "error", "busy"],
  action: ACTIONS,
};

type Family = { description: MetricDescription; labels: Set<string> };

/** The catalog family a series name belongs to, if any. */
function family(series: string, catalog: MetricDescription[]): Family | null {
  const byName = new Map(catalog.map((d) => [d.name, d]));
  const found = (name: string, extra: string[] = []): Family | null => {
    const d = byName.get(name);
    return d ? { description: d, labels: new Set([...d.labels, ...extra, ...TARGET_LABELS]) } : null;
  };
  const direct = byName.get(series);
  if (direct) {
    // A histogram or summary has no series under its bare name.
    return direct.type === "histogram" || direct.type === "summary" ? null : found(series);
  }
  for (const [suffix, types] of [
    ["_bucket", ["histogram"]],
    ["_sum", ["histogram", "summary"]],
    ["_count", ["histogram", "summary"]],
  ] as const) {
    if (!series.endsWith(suffix)) continue;
    const base = series.slice(0, -suffix.length);
    const d = byName.get(base);
    if (d && (types as readonly string[]).includes(d.type))
      return found(base, suffix === "_bucket" ? ["le"] : []);
  }
  return null;
}

/** Problems with `expr` against the catalog; empty when it is true to the code. */
export function checkExpression(expr: string, catalog: MetricDescription[]): string[] {
  let use: ReturnType<typeof analyze>;
  try {
    use = analyze(expr);
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  const groupable = new Set<string>(TARGET_LABELS);
  for (const s of use.selectors) {
    if (SYNTHETIC_SERIES.has(s.metric)) {
      for (const m of s.matchers)
        if (!(TARGET_LABELS as readonly string[]).includes(m.label))
          problems.push(`${s.metric} has no label '${m.label}'`);
      continue;
    }
    const f = family(s.metric, catalog);
    if (!f) {
      problems.push(`'${s.metric}' is not a series agentgate exports`);
      continue;
    }
    for (const l of f.labels) groupable.add(l);
    for (const m of s.matchers) {
      if (!f.labels.has(m.label)) {
        problems.push(`${s.metric} has no label '${m.label}' (it has: ${[...f.labels].join(", ")})`);
        continue;
      }
      problems.push(...checkValue(s.metric, m.label, m.op, m.value));
    }
  }
  for (const l of use.groupingLabels)
    if (!groupable.has(l)) problems.push(`grouping label '${l}' is on none of the selected metrics`);
  if (use.selectors.length === 0) problems.push("selects no metric");
  return problems;
}

function checkValue(metric: string, label: string, op: string, value: string): string[] {
  if (value.includes("$")) return []; // a dashboard variable, filled in by Grafana
  if (label === "status") {
    const codes = Array.from({ length: 500 }, (_, k) => String(100 + k));
    const matches = op.endsWith("~")
      ? codes.some((c) => new RegExp(`^(?:${value})$`).test(c))
      : /^[1-5]\d\d$/.test(value);
    return matches ? [] : [`${metric}{status${op}"${value}"}: status is an HTTP status code`];
  }
  const known = LABEL_VALUES[label];
  if (!known) return [];
  const values = op.endsWith("~") ? value.split("|") : [value];
  return values
    .filter((v) => !known.includes(v))
    .map(
      (v) => `${metric}{${label}${op}"${value}"}: '${v}' is not a value of ${label} (${known.join(", ")})`,
    );
}
