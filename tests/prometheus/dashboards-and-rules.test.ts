/**
 * Proof against a real Prometheus (Debian's package; the suite fails without it): a gateway with
 * the fake upstream gets traffic covering every series the dashboards and rules read (traffic.ts),
 * Prometheus scrapes it every second and loads deploy/prometheus/rules.yml, and then every PromQL
 * expression of every dashboard panel — with the dashboard variables set to "All" and to concrete
 * values, as Grafana sends them — and of every alert rule is evaluated through the HTTP API: each
 * parses and returns data. `promtool` checks the rules, the compose Prometheus config and the
 * /metrics text.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALERT_RULES } from "../../src/observability/alerts.js";
import { dashboardExpressions } from "../../src/observability/grafana.js";
import { substitute } from "../../src/observability/promql.js";
import { freePort } from "../cli/cli.js";
import { type Gateway, startGateway } from "../helpers/dataplane.js";
import { REPO_ROOT } from "../helpers/gateway-process.js";
import {
  lintMetrics,
  type PrometheusServer,
  promtool,
  type QueryResult,
  type Sample,
  startPrometheus,
} from "./prometheus-server.js";
import { generateTraffic, SYSTEM, type TrafficSummary } from "./traffic.js";

const RULES = path.join(REPO_ROOT, "deploy/prometheus/rules.yml");

type Dashboard = {
  uid: string;
  panels: Record<string, unknown>[];
  templating: { list: { name: string; type: string; definition?: string }[] };
};
const DASHBOARDS: Record<string, Dashboard> = Object.fromEntries(
  readdirSync(path.join(REPO_ROOT, "dashboards"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => [f, JSON.parse(readFileSync(path.join(REPO_ROOT, "dashboards", f), "utf8")) as Dashboard]),
);

/** Grafana's time variables: windows that cover the whole run. */
const TIME_VARIABLES = { __rate_interval: "5m", __range: "10m", __interval: "15s" };
const ALL = { system: ".*", agent: ".*", arm: ".*" };
/** One realistic selection per dashboard (multi-value selections as Grafana formats them). */
const CONCRETE: Record<string, Record<string, string>> = {
  "agentgate-overview": { system: SYSTEM, agent: "planner", arm: "(control|ft)" },
  "agentgate-experiments": { system: SYSTEM, agent: "planner", arm: "ft" },
  "agentgate-rollouts": { system: SYSTEM, agent: "(planner|writer|critic)", arm: "(none|control|ft)" },
};

const finite = (s: Sample) => Number.isFinite(Number(s.value[1]));

function vector(r: QueryResult, what: string): Sample[] {
  if (r.resultType !== "vector") throw new Error(`${what}: expected a vector, got ${r.resultType}`);
  return r.result;
}

describe("dashboards and alert rules against a real Prometheus", () => {
  let g: Gateway;
  let prom: PrometheusServer;
  let traffic: TrafficSummary;
  let at: number;

  beforeAll(async () => {
    g = await startGateway("pglite", {
      AGENTGATE_GUARDRAIL_INTERVAL_MS: "100",
      // Nothing listens there: the MLflow panel shows syncs that stopped.
      MLFLOW_TRACKING_URI: `http://127.0.0.1:${await freePort()}/`,
      // The fine-tuning endpoint trains on this upstream (traffic.ts registers it).
      AGENTGATE_FINETUNE_TRAINER: "trainer",
      AGENTGATE_LOG_LEVEL: "silent",
    });
    prom = await startPrometheus([new URL(g.url).host], [RULES]);
    // Prometheus applies new targets every 5 s: wait for the first scrape before any call.
    await prom.scraped();
    traffic = await generateTraffic(g, () => prom.scraped());
    // Every series must have been scraped a few times after the last call.
    await new Promise((r) => setTimeout(r, 3_500));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const fresh = vector(
        await prom.query('time() - timestamp(agentgate_feedback_value_count{metric="rating"})'),
        "freshness",
      );
      if (fresh.length > 0 && fresh.every((s) => Number(s.value[1]) < 2)) break;
      if (Date.now() > deadline) throw new Error("Prometheus did not scrape the gateway's feedback series");
      await new Promise((r) => setTimeout(r, 250));
    }
    at = Date.now() / 1000;
  }, 240_000);

  afterAll(async () => {
    await prom?.close();
    await g?.close();
  });

  it("generated the traffic the panels need", () => {
    const routes = new Set(traffic.calls.map((c) => c.route));
    for (const r of ["experiment", "fallback", "pinned", "champion"]) expect(routes).toContain(r);
    expect(new Set(traffic.calls.map((c) => c.status))).toEqual(new Set([200, 404, 502]));
  });

  for (const [file, dashboard] of Object.entries(DASHBOARDS)) {
    const exprs = dashboardExpressions(dashboard);

    it(`${file}: has expressions to evaluate`, () => {
      expect(exprs.length).toBeGreaterThan(5);
    });

    for (const [selection, values] of [
      ["All", ALL],
      ["a concrete selection", CONCRETE[dashboard.uid] ?? {}],
    ] as const) {
      it(`${file}: every panel query returns data with ${selection}`, async () => {
        expect(Object.keys(values)).toEqual(["system", "agent", "arm"]);
        const failures: string[] = [];
        for (const { panel, expr } of exprs) {
          const q = substitute(expr, { ...TIME_VARIABLES, ...values });
          try {
            const samples = vector(await prom.query(q, at), q);
            if (!samples.some(finite))
              failures.push(
                `"${panel}": no finite sample from ${q}: ${JSON.stringify(samples).slice(0, 300)}`,
              );
          } catch (err) {
            failures.push(`"${panel}": ${(err as Error).message}`);
          }
        }
        expect(failures).toEqual([]);
      });
    }

    it(`${file}: the variables list the system, its agents and the experiment's arms`, async () => {
      const values = async (label: string, selector: string) => {
        const params = new URLSearchParams({ "match[]": selector, start: String(at - 600), end: String(at) });
        const series = await prom.api<Record<string, string>[]>(`series?${params}`);
        return new Set(series.map((s) => s[label]));
      };
      const vars = dashboard.templating.list.filter((v) => v.type === "query");
      expect(vars.map((v) => v.name)).toEqual(["system", "agent", "arm"]);
      const selection = { system: SYSTEM, agent: "(planner|writer)" };
      for (const v of vars) {
        const m = /^label_values\((.*), (\w+)\)$/.exec(v.definition ?? "");
        expect(m?.[2]).toBe(v.name);
        const got = await values(v.name, substitute(m?.[1] ?? "", selection));
        if (v.name === "system") expect(got).toContain(SYSTEM);
        if (v.name === "agent") expect([...got].sort()).toEqual(["critic", "planner", "reviewer", "writer"]);
        if (v.name === "arm") {
          const arms =
            dashboard.uid === "agentgate-experiments" ? ["control", "ft"] : ["control", "ft", "none"];
          expect([...got].sort()).toEqual(arms);
        }
      }
    });
  }

  it("every alert rule parses and returns a vector; each probe returns data", async () => {
    const failures: string[] = [];
    for (const r of ALERT_RULES) {
      try {
        vector(await prom.query(r.expr, at), r.alert);
        if (r.probe !== null) {
          const samples = vector(await prom.query(r.probe, at), `${r.alert} probe`);
          if (!samples.some(finite)) failures.push(`${r.alert}: no finite sample from its probe ${r.probe}`);
        }
      } catch (err) {
        failures.push(`${r.alert}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    // Only one rule has no probe: its series exist only when a routing reload has failed.
    expect(ALERT_RULES.filter((r) => r.probe === null).map((r) => r.alert)).toEqual([
      "AgentgateRoutingReloadFailing",
    ]);
  });

  it("the automatic rollback and the failing MLflow syncs fire their alerts; events lost and spool growth do not", async () => {
    const expr = (name: string) => ALERT_RULES.find((r) => r.alert === name)?.expr ?? "";
    const fired = vector(await prom.query(expr("AgentgateAutoRollback"), at), "rollback");
    expect(fired.map((s) => s.metric)).toEqual([
      { system: SYSTEM, agent: "reviewer", experiment: traffic.rollbackExperiment },
    ]);
    expect(vector(await prom.query(expr("AgentgateEventsDropped"), at), "dropped")).toEqual([]);
    expect(vector(await prom.query(expr("AgentgateEventSpoolGrowing"), at), "spool")).toEqual([]);
    // The traffic's two MLflow syncs both failed and none succeeded: the stale-mirror condition holds.
    const mlflow = vector(await prom.query(expr("AgentgateMlflowSyncFailing"), at), "mlflow");
    expect(mlflow).toHaveLength(1);
    expect(Object.keys(mlflow[0]?.metric ?? {})).toEqual(["instance"]);
  });

  it("Prometheus loaded every rule, evaluates each without error, and raised the rollback alert", async () => {
    type Rule = { name: string; health: string; lastError?: string; state: string };
    const deadline = Date.now() + 15_000;
    let rules: Rule[] = [];
    for (;;) {
      const data = await prom.api<{ groups: { rules: Rule[] }[] }>("rules?type=alert");
      rules = data.groups.flatMap((gr) => gr.rules);
      const rollback = rules.find((r) => r.name === "AgentgateAutoRollback");
      if (rollback?.state === "firing" || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(rules.map((r) => r.name).sort()).toEqual(ALERT_RULES.map((r) => r.alert).sort());
    for (const r of rules)
      expect({ name: r.name, health: r.health, lastError: r.lastError ?? "" }).toEqual({
        name: r.name,
        health: "ok",
        lastError: "",
      });
    expect(rules.find((r) => r.name === "AgentgateAutoRollback")?.state).toBe("firing");
    const alerts = await prom.api<{ alerts: { labels: Record<string, string>; state: string }[] }>("alerts");
    const rollback = alerts.alerts.find((a) => a.labels.alertname === "AgentgateAutoRollback");
    expect(rollback?.labels).toMatchObject({
      experiment: traffic.rollbackExperiment,
      agent: "reviewer",
      severity: "warning",
    });
  });

  it("feedback means by arm are attributed to the runs' arms", async () => {
    const mean = vector(
      await prom.query(
        `sum by (arm) (agentgate_feedback_value_sum{metric="resolved"}) / sum by (arm) (agentgate_feedback_value_count{metric="resolved"})`,
        at,
      ),
      "feedback mean",
    );
    const byArm = Object.fromEntries(mean.map((s) => [s.metric.arm, Number(s.value[1])]));
    // The traffic resolved 3 runs in 4 for ft and 1 in 2 for control.
    const expected = { control: [0, 0], ft: [0, 0] } as Record<string, [number, number]>;
    let i = 0;
    for (const arm of traffic.plannerSessions.values()) {
      const e = expected[arm] as [number, number];
      e[0] += (arm === "ft" ? i % 4 !== 0 : i % 2 === 0) ? 1 : 0;
      e[1]++;
      i++;
    }
    expect(Object.keys(byArm).sort()).toEqual(["control", "ft"]);
    for (const arm of ["control", "ft"]) {
      const [yes, n] = expected[arm] as [number, number];
      expect(byArm[arm]).toBeCloseTo(yes / n, 10);
    }
  });

  it("promtool: the rules and the compose Prometheus config pass, and /metrics lints clean", async () => {
    const rules = promtool(["check", "rules", RULES]);
    expect(rules.output).toContain(`SUCCESS: ${ALERT_RULES.length} rules found`);
    expect(rules.status).toBe(0);
    const config = promtool(["check", "config", path.join(REPO_ROOT, "deploy/prometheus/prometheus.yml")]);
    expect(config.status, config.output).toBe(0);
    const lint = await lintMetrics(g.url);
    expect(lint.output).toBe("");
    expect(lint.status).toBe(0);
  });
});
