/**
 * A small builder for Grafana dashboards in the classic JSON model (what file provisioning
 * loads): panels laid out on the 24-column grid in the order given, the Prometheus data source
 * as a variable, and query variables for system, agent and arm. It writes only what the
 * dashboards use, so the generated JSON stays readable in review.
 */

/** The last schema version of the classic dashboard model (Grafana 12.x and later). */
export const SCHEMA_VERSION = 42;

/** Every query goes to the data source the dashboard's `datasource` variable selects. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
export const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

export type Target = {
  expr: string;
  legend?: string;
  /** An instant query (tables, bar gauges), evaluated at the end of the time range. */
  instant?: boolean;
};

type PanelBase = { title: string; description: string; width: number; height?: number };

export type PanelSpec =
  | (PanelBase & {
      kind: "timeseries";
      targets: Target[];
      unit: string;
      stack?: boolean;
      min?: number;
    })
  | (PanelBase & { kind: "stat"; targets: Target[]; unit: string; thresholds?: [number, string][] })
  | (PanelBase & { kind: "table"; targets: Target[] })
  | (PanelBase & { kind: "bargauge"; targets: Target[]; unit: string })
  | (PanelBase & { kind: "text"; markdown: string });

export type RowSpec = { row: string; panels: PanelSpec[] };

export type VariableSpec = {
  name: string;
  label: string;
  /** `label_values(<selector>, <label>)` */
  metric: string;
  selector: string;
};

export type DashboardSpec = {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  variables: VariableSpec[];
  rows: RowSpec[];
};

type Json = Record<string, unknown>;

export function buildDashboard(spec: DashboardSpec): Json {
  let id = 0;
  let y = 0;
  const panels: Json[] = [];
  for (const row of spec.rows) {
    panels.push({
      id: ++id,
      type: "row",
      title: row.row,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const p of row.panels) {
      const h = p.height ?? (p.kind === "stat" ? 4 : 8);
      if (x + p.width > 24) {
        x = 0;
        y += lineHeight;
        lineHeight = 0;
      }
      panels.push(buildPanel(p, ++id, { h, w: p.width, x, y }));
      x += p.width;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: true,
    graphTooltip: 1,
    timezone: "browser",
    time: { from: "now-6h", to: "now" },
    refresh: "30s",
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    links: [
      {
        title: "agentgate dashboards",
        type: "dashboards",
        tags: ["agentgate"],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
      },
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
      ],
    },
    templating: {
      list: [
        {
          name: "datasource",
          label: "Data source",
          type: "datasource",
          query: "prometheus",
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: "",
        },
        ...spec.variables.map(variable),
      ],
    },
    panels,
  };
}

/** The label_values() query of a variable, as Grafana's Prometheus variable editor stores it. */
export function variableQuery(v: VariableSpec): string {
  return `label_values(${v.selector}, ${v.name})`;
}

function variable(v: VariableSpec): Json {
  const query = variableQuery(v);
  return {
    name: v.name,
    label: v.label,
    type: "query",
    datasource: DATASOURCE,
    definition: query,
    query: { qryType: 1, query, refId: "PrometheusVariableQueryEditor-VariableQuery" },
    refresh: 2,
    includeAll: true,
    allValue: ".*",
    multi: true,
    current: { text: ["All"], value: ["$__all"] },
    options: [],
    hide: 0,
    regex: "",
    sort: 1,
  };
}

function targets(ts: Target[]): Json[] {
  return ts.map((t, i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    editorMode: "code",
    expr: t.expr,
    legendFormat: t.legend ?? "__auto",
    range: !t.instant,
    instant: Boolean(t.instant),
    ...(t.instant ? { format: "table" } : {}),
  }));
}

function buildPanel(p: PanelSpec, id: number, gridPos: Json): Json {
  const base = { id, type: p.kind, title: p.title, description: p.description, gridPos };
  switch (p.kind) {
    case "text":
      return { ...base, options: { mode: "markdown", content: p.markdown } };
    case "timeseries":
      return {
        ...base,
        datasource: DATASOURCE,
        targets: targets(p.targets),
        fieldConfig: {
          defaults: {
            unit: p.unit,
            ...(p.min === undefined ? { min: 0 } : {}),
            custom: {
              drawStyle: "line",
              lineWidth: 1,
              fillOpacity: p.stack ? 30 : 10,
              showPoints: "never",
              spanNulls: false,
              stacking: { mode: p.stack ? "normal" : "none", group: "A" },
            },
          },
          overrides: [],
        },
        options: {
          legend: { displayMode: "table", placement: "bottom", showLegend: true, calcs: ["mean", "max"] },
          tooltip: { mode: "multi", sort: "desc" },
        },
      };
    case "stat":
      return {
        ...base,
        datasource: DATASOURCE,
        targets: targets(p.targets),
        fieldConfig: {
          defaults: {
            unit: p.unit,
            thresholds: {
              mode: "absolute",
              steps: [
                { color: "green", value: null },
                ...(p.thresholds ?? []).map(([value, color]) => ({ color, value })),
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
          colorMode: "value",
          graphMode: "area",
          justifyMode: "auto",
          textMode: "auto",
        },
      };
    case "bargauge":
      return {
        ...base,
        datasource: DATASOURCE,
        targets: targets(p.targets),
        fieldConfig: { defaults: { unit: p.unit, min: 0 }, overrides: [] },
        options: {
          reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
          orientation: "horizontal",
          displayMode: "gradient",
          showUnfilled: true,
        },
      };
    case "table":
      return {
        ...base,
        datasource: DATASOURCE,
        targets: targets(p.targets),
        fieldConfig: { defaults: {}, overrides: [] },
        options: { showHeader: true, cellHeight: "sm" },
        transformations: [{ id: "organize", options: { excludeByName: { Time: true } } }],
      };
  }
}

/** Every PromQL expression of a built dashboard: panel targets, then variable queries. */
export function dashboardExpressions(dashboard: Json): { panel: string; expr: string; instant: boolean }[] {
  const out: { panel: string; expr: string; instant: boolean }[] = [];
  for (const p of dashboard.panels as Json[]) {
    for (const t of (p.targets as Json[] | undefined) ?? [])
      out.push({ panel: String(p.title), expr: String(t.expr), instant: Boolean(t.instant) });
  }
  return out;
}
