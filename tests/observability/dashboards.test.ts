/**
 * The dashboards, alert rules and metric reference are generated from the metric catalog and
 * stay true to it: the committed files are exactly what `npm run dashboards` writes; every
 * metric, label and label value any of their PromQL expressions uses is one the code emits (so
 * renaming a metric fails this test); and each alert's runbook exists in docs/operations.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { observabilityFiles } from "../../scripts/observability-files.js";
import { createMetrics, type MetricDescription } from "../../src/metrics.js";
import { ALERT_RULES, RUNBOOK_DOC, runbookAnchor } from "../../src/observability/alerts.js";
import { checkExpression } from "../../src/observability/check.js";
import { catalogProblems, OPERATIONS_DOC } from "../../src/observability/generate.js";
import { DATASOURCE, dashboardExpressions, SCHEMA_VERSION } from "../../src/observability/grafana.js";
import { analyze, substitute } from "../../src/observability/promql.js";
import { REPO_ROOT } from "../helpers/gateway-process.js";

const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), "utf8");
const catalog = createMetrics().catalog();

type Json = Record<string, unknown>;
const committedDashboards: Record<string, Json> = Object.fromEntries(
  readdirSync(path.join(REPO_ROOT, "dashboards"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => [f, JSON.parse(read(`dashboards/${f}`)) as Json]),
);

/** The `expr: |-` blocks of the committed rules file. */
function committedRuleExpressions(): string[] {
  const out: string[] = [];
  const lines = read("deploy/prometheus/rules.yml").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s+expr: \|-$/.test(lines[i] as string)) continue;
    const body: string[] = [];
    while (lines[i + 1]?.startsWith("          ")) body.push((lines[++i] as string).slice(10));
    out.push(body.join("\n"));
  }
  return out;
}

describe("generated observability files", () => {
  it("are exactly what `npm run dashboards` writes", () => {
    const files = observabilityFiles();
    expect(Object.keys(files).sort()).toEqual([
      "dashboards/agentgate-experiments.json",
      "dashboards/agentgate-overview.json",
      "dashboards/agentgate-rollouts.json",
      "deploy/prometheus/rules.yml",
      OPERATIONS_DOC,
    ]);
    for (const [rel, content] of Object.entries(files))
      expect(read(rel), `${rel} is stale: run npm run dashboards`).toBe(content);
    expect(Object.keys(committedDashboards).sort()).toEqual(
      Object.keys(files)
        .filter((f) => f.startsWith("dashboards/"))
        .map((f) => f.slice("dashboards/".length))
        .sort(),
    );
  });

  it("use only metrics, labels and label values the code emits", () => {
    const exprs: [string, string][] = [];
    for (const [file, d] of Object.entries(committedDashboards)) {
      for (const { panel, expr } of dashboardExpressions(d)) exprs.push([`${file} "${panel}"`, expr]);
      const vars = (d.templating as { list: { name: string; definition?: string }[] }).list;
      for (const v of vars.filter((x) => x.definition))
        exprs.push([`${file} $${v.name}`, /^label_values\((.*), \w+\)$/.exec(v.definition ?? "")?.[1] ?? ""]);
    }
    for (const e of committedRuleExpressions()) exprs.push(["rules.yml", e]);
    expect(exprs.length).toBeGreaterThan(60);
    const problems = exprs.flatMap(([where, e]) => checkExpression(e, catalog).map((p) => `${where}: ${p}`));
    expect(problems).toEqual([]);

    // Histogram suffixes resolve to their family; every metric the dashboards rely on is used.
    const used = new Set(exprs.flatMap(([, e]) => analyze(e).selectors.map((s) => s.metric)));
    for (const name of [
      "agentgate_requests_total",
      "agentgate_request_duration_seconds_bucket",
      "agentgate_time_to_first_token_seconds_bucket",
      "agentgate_tokens_total",
      "agentgate_cost_usd_total",
      "agentgate_fallbacks_total",
      "agentgate_events_written_total",
      "agentgate_events_spooled_total",
      "agentgate_events_dropped_total",
      "agentgate_events_spool_pending",
      "agentgate_routing_reloads_total",
      "agentgate_auto_rollbacks_total",
      "agentgate_feedback_value_sum",
      "agentgate_feedback_value_count",
    ])
      expect(used).toContain(name);
  });

  it("renaming a metric or a label in the catalog fails the check", () => {
    const renamed = (from: string, to: string): MetricDescription[] =>
      catalog.map((m) => (m.name === from ? { ...m, name: to } : m));
    const metricGone = catalogProblems(renamed("agentgate_fallbacks_total", "agentgate_fallback_total"));
    expect(metricGone).toContain("dashboards: no metric agentgate_fallbacks_total in the catalog");
    const histogramGone = catalogProblems(
      renamed("agentgate_request_duration_seconds", "agentgate_call_duration_seconds"),
    );
    expect(histogramGone).toContain(
      "dashboards: no metric agentgate_request_duration_seconds_bucket in the catalog",
    );
    expect(histogramGone).toContain(
      "rules.yml AgentgateChallengerLatencyRegression: 'agentgate_request_duration_seconds_bucket' is not a series agentgate exports",
    );
    const labelGone = catalogProblems(
      catalog.map((m) =>
        m.name === "agentgate_requests_total" ? { ...m, labels: m.labels.filter((l) => l !== "status") } : m,
      ),
    );
    expect(labelGone.some((p) => p.includes("agentgate_requests_total has no label 'status'"))).toBe(true);
    expect(catalogProblems(catalog)).toEqual([]);
  });

  it("checks expressions strictly", () => {
    const problems = (e: string) => checkExpression(e, catalog);
    expect(problems('sum(rate(agentgate_requests_total{route="pinned", status=~"5.."}[5m]))')).toEqual([]);
    expect(problems("agentgate_request_duration_seconds")).toEqual([
      "'agentgate_request_duration_seconds' is not a series agentgate exports",
    ]);
    expect(problems("agentgate_requests_total_bucket")).toHaveLength(1);
    expect(problems("agentgate_feedback_value_bucket")).toHaveLength(1);
    expect(problems('agentgate_requests_total{route="pin"}')).toEqual([
      `agentgate_requests_total{route="pin"}: 'pin' is not a value of route (pinned, experiment, champion, fallback, none)`,
    ]);
    expect(problems('agentgate_requests_total{status="ok"}')).toHaveLength(1);
    expect(problems('agentgate_requests_total{status=~"6.."}')).toHaveLength(1);
    expect(problems('agentgate_tokens_total{type="input"}')).toHaveLength(1);
    expect(problems('agentgate_gateway_overhead_seconds_bucket{arm="x"}')[0]).toMatch(/has no label 'arm'/);
    expect(problems("sum by (experiment) (rate(agentgate_requests_total[5m]))")).toEqual([
      "grouping label 'experiment' is on none of the selected metrics",
    ]);
    expect(problems("sum(ratee(agentgate_requests_total[5m]))")[0]).toMatch(/unknown function 'ratee'/);
    expect(
      problems(
        'histogram_quantile(0.9, sum by (le) (rate(agentgate_upstream_duration_seconds_bucket{le="1"}[5m])))',
      ),
    ).toEqual([]);
    expect(problems('up{job="agentgate"} == 0')).toEqual([]);
    expect(problems('up{agent="x"}')).toHaveLength(1);
  });

  it("substitutes Grafana's variables", () => {
    expect(substitute('rate(x{a=~"$agent"}[$__rate_interval])', { agent: "p", __rate_interval: "1m" })).toBe(
      'rate(x{a=~"p"}[1m])',
    );
    expect(() => substitute("rate(x[$__range])", {})).toThrow(/no value for variable \$__range/);
  });

  it("are well-formed Grafana dashboards with the data source and system, agent and arm as variables", () => {
    const uids = new Set<string>();
    for (const [file, d] of Object.entries(committedDashboards)) {
      expect(d.schemaVersion, file).toBe(SCHEMA_VERSION);
      uids.add(d.uid as string);
      const vars = (d.templating as { list: { name: string; type: string }[] }).list;
      expect(vars.map((v) => `${v.name}:${v.type}`)).toEqual([
        "datasource:datasource",
        "system:query",
        "agent:query",
        "arm:query",
      ]);
      const panels = d.panels as {
        id: number;
        type: string;
        gridPos: { x: number; y: number; w: number; h: number };
        datasource?: unknown;
      }[];
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      const cells = new Set<string>();
      for (const p of panels) {
        const { x, y, w, h } = p.gridPos;
        expect(x + w, `${file} panel ${p.id}`).toBeLessThanOrEqual(24);
        for (let i = x; i < x + w; i++)
          for (let j = y; j < y + h; j++) {
            expect(cells.has(`${i},${j}`), `${file} panel ${p.id} overlaps`).toBe(false);
            cells.add(`${i},${j}`);
          }
        if (p.type !== "row" && p.type !== "text") expect(p.datasource).toEqual(DATASOURCE);
      }
    }
    expect([...uids].sort()).toEqual(["agentgate-experiments", "agentgate-overview", "agentgate-rollouts"]);
  });

  it("link each alert to its runbook in docs/operations.md", () => {
    const doc = read(RUNBOOK_DOC);
    const anchors = new Set(
      [...doc.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] as string)
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, "")
          .replace(/ /g, "-"),
      ),
    );
    const rules = read("deploy/prometheus/rules.yml");
    for (const r of ALERT_RULES) {
      expect(anchors, r.alert).toContain(runbookAnchor(r.alert));
      expect(rules).toContain(`runbook_url: "${RUNBOOK_DOC}#${runbookAnchor(r.alert)}"`);
    }
  });
});
