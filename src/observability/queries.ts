/**
 * The PromQL building blocks the dashboards share: `sel()` selectors that add a dashboard's
 * filters ($system, $agent, $arm) only for the labels a metric really has, rate sums, ratios,
 * quantiles and the template variables.
 */
import type { MetricDescription } from "../metrics.js";
import type { PanelSpec, VariableSpec } from "./grafana.js";

export const P = "agentgate_";
/** Grafana's rate window: at least four scrape intervals, so a rate always has two samples. */
export const W = "$__rate_interval";

export type Scope = "system" | "agent" | "arm";
const ALL_SCOPES: Scope[] = ["system", "agent", "arm"];

/** Selector builder bound to the catalog: `sel("requests_total", ['status=~"5.."'])`. */
export function selectorFactory(catalog: MetricDescription[]) {
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

export const by = (labels: string[]) => (labels.length > 0 ? ` by (${labels.join(", ")})` : "");
export const sumRate = (selector: string, labels: string[] = [], window = W) =>
  `sum${by(labels)} (rate(${selector}[${window}]))`;
/** num/den per group, 0 (not "no data") for a group with calls but no numerator series. */
export const ratio = (num: string, den: string, labels: string[] = []) =>
  `(${sumRate(num, labels)} or 0 * ${sumRate(den, labels)}) / ${sumRate(den, labels)}`;
export const quantile = (q: number, bucketSelector: string, labels: string[] = []) =>
  `histogram_quantile(${q}, ${sumRate(bucketSelector, ["le", ...labels])})`;

export const ERR = 'status=~"5.."';
export const IN_EXPERIMENT = 'arm!="none"';

export function variables(catalog: MetricDescription[], armFilter: string[] = []): VariableSpec[] {
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

/** A time-series panel (half the width unless told). */
export const timeseries = (
  title: string,
  description: string,
  unit: string,
  targets: { expr: string; legend: string }[],
  width = 12,
): PanelSpec => ({ kind: "timeseries", title, description, width, unit, targets });
