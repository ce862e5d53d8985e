/**
 * `agentgate experiments report` and `agentgate experiments promote` through the real CLI (a
 * child process) against a real server that has served a system-scoped experiment's traffic:
 * the readable report shows what the API's report says, `--json` is that report, the options
 * reach the server, a skewed split is a visible warning, and promotion is refused on it unless
 * forced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/experiments/report/report.js";
import { eventsFlushed, type Gateway, routingSettled, startGateway } from "../helpers/dataplane.js";
import { chat, fixSalt, inPool, insertSkew } from "../helpers/experiment-traffic.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { expectOk, expectOneLineError, json, killAll, runCli } from "./cli.js";

const AGENTS = ["coordinator", "writer"];
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("agentgate experiments report|promote", () => {
  let g: Gateway;
  let env: Record<string, string>;
  let id: number;
  let idle: number;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    g = await startGateway("pglite");
    env = { AGENTGATE_URL: g.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
    g.fake.setFault("ft-model", { fault: "slow", delayMs: 30 });
    await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
    await g.admin("POST", "/systems", { name: "wf", topology: "sequential" });
    for (const agent of AGENTS) {
      await g.admin("POST", "/systems/wf/agents", { name: agent });
      await g.admin("POST", `/systems/wf/agents/${agent}/versions`, {
        kind: "base_optimized",
        upstream: "fake",
        model: "base-model",
        pricing: { input_per_mtok: 2, output_per_mtok: 8 },
      });
      await g.admin("POST", `/systems/wf/agents/${agent}/versions`, {
        kind: "fine_tuned",
        upstream: "fake",
        model: "ft-model",
        pricing: { input_per_mtok: 0.5, output_per_mtok: 1 },
        training_cost_usd: 0.0002,
      });
    }
    id = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "strategies",
        system: "wf",
        arms: [
          { name: "control", weight: 1, versions: { coordinator: 1, writer: 1 } },
          { name: "hybrid", weight: 1, versions: { coordinator: 1, writer: 2 } },
        ],
        primary_metric: "resolved",
      })
    ).id;
    await fixSalt(g, id, "cli-report-test");
    await g.admin("POST", `/experiments/${id}/start`);
    await routingSettled(g);
    const arms = new Map<string, string>();
    await inPool(
      Array.from({ length: 40 }, (_, i) => `run-${i}`),
      8,
      async (run) => {
        for (const agent of AGENTS) {
          const c = await chat(g, "wf", agent, run, `step ${run.length % 3} of the run`);
          arms.set(run, c.arm as string);
        }
      },
    );
    await eventsFlushed(g);
    let i = 0;
    for (const [run, arm] of arms) {
      const value = arm === "hybrid" ? i % 6 !== 0 : i % 3 === 0;
      await g.admin("POST", "/feedback", { session_id: run, metric: "resolved", value });
      i++;
    }
    // An agent-scoped experiment that never got traffic.
    await g.admin("POST", "/systems", { name: "ops", topology: "sequential" });
    await g.admin("POST", "/systems/ops/agents", { name: "triage" });
    for (const model of ["base-model", "ft-model"])
      await g.admin("POST", "/systems/ops/agents/triage/versions", {
        kind: "base_optimized",
        upstream: "fake",
        model,
      });
    idle = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "idle",
        system: "ops",
        agent: "triage",
        arms: [
          { name: "control", weight: 1, versions: { triage: 1 } },
          { name: "other", weight: 3, versions: { triage: 2 } },
        ],
      })
    ).id;
  });
  afterAll(async () => {
    await killAll();
    await g?.close();
  });

  it("prints a readable report: arms, SRM, metrics, power, ROI and the per-agent table", {
    timeout: 60_000,
  }, async () => {
    const api = await g.admin<Report>("GET", `/experiments/${id}/report`);
    const r = await cli("experiments", "report", String(id));
    expectOk(r);
    const out = r.stdout;
    expect(out).toMatch(
      new RegExp(`^Experiment ${id} 'strategies': system wf, unit session, running, started `, "m"),
    );
    expect(out).toMatch(/^Primary metric: resolved\. Report of \S+, alpha 0\.05\.$/m);
    expect(out).toMatch(/^ARM +WEIGHT +UNITS +CALLS +P50 MS +P95 MS +VERSIONS$/m);
    for (const a of api.arms) {
      expect(a.units).toBeGreaterThan(5);
      const versions = Object.entries(a.versions)
        .map(([agent, v]) => `${agent}=${v}`)
        .join(", ");
      expect(out).toMatch(
        new RegExp(`^${a.name} +50% +${a.units} +${a.calls} +[\\d.]+ +[\\d.]+ +${versions}$`, "m"),
      );
    }
    const [c, t] = api.srm?.counts ?? [];
    expect(out).toMatch(
      new RegExp(
        `^SRM: ok: units ${c} vs ${t} match the weights 50%/50% \\(chi² [\\d.]+, p = [\\d.]+\\)\\.$`,
        "m",
      ),
    );
    expect(out).toMatch(
      /^METRIC +ARM +N +ESTIMATE \[95% CI\] +LIFT VS CONTROL \[CI\] +P +P ADJ +ALWAYS-VALID DIFF CI +VERDICT$/m,
    );
    // The decision metric: control row with its rate, treatment row with lift, p, Holm p and verdict.
    const resolved = api.metrics.find((m) => m.name === "resolved");
    const cmp = resolved?.comparisons[0];
    expect(cmp).toBeDefined();
    expect(out).toMatch(
      new RegExp(
        `^resolved \\(higher\\) +control +${resolved?.arms[0]?.n} +[\\d.]+ \\[[\\d.]+, [\\d.]+\\] +- +- +- +- +-$`,
        "m",
      ),
    );
    expect(out).toMatch(
      new RegExp(
        `^resolved \\(higher\\) +hybrid +${resolved?.arms[1]?.n} +[\\d.]+ \\[[\\d.]+, [\\d.]+\\] +[+-][\\d.]+% \\[[+-]?[\\d.]+%, [+-]?[\\d.]+%\\] +[\\d.e-]+ +[\\d.e-]+ +\\[[+-]?[\\d.e-]+, [+-]?[\\d.e-]+\\] +${cmp?.verdict}$`,
        "m",
      ),
    );
    for (const name of [
      "error_rate",
      "cost_usd_per_call",
      "tokens_per_call",
      "latency_geomean_ms",
      "cost_usd_per_run",
    ])
      expect(out).toMatch(new RegExp(`^${name} \\(lower\\) +hybrid +\\d+ `, "m"));
    expect(out).toMatch(
      new RegExp(
        `^Power: to detect a 5% relative change in resolved \\(control [\\d.]+\\) at alpha 0\\.05 and 80% power: ${esc(
          (api.power as NonNullable<Report["power"]>).units_per_arm.toLocaleString("en"),
        )} units per arm; still needed: control [\\d,]+, hybrid [\\d,]+\\.$`,
        "m",
      ),
    );
    const roi = api.roi[0];
    expect(roi?.breaksEven).toBe(true);
    expect(out).toMatch(
      new RegExp(
        `^ROI hybrid vs control \\(per workflow run\\): upfront \\$2\\.00e-4 \\(training \\$2\\.00e-4 \\+ evaluation \\$0\\); cost per workflow run \\$\\S+ -> \\$\\S+, saving \\$\\S+; breaks even after ${esc(
          Number(roi?.breakEvenCalls).toLocaleString("en"),
        )} workflow runs, [\\d.e-]+ days at the observed [\\d,]+ per day\\.$`,
        "m",
      ),
    );
    expect(out).toMatch(/^ARM +AGENT +CALLS +ERROR RATE +COST\/CALL +TOKENS\/CALL +P50 MS +FALLBACKS$/m);
    for (const row of api.per_agent)
      expect(out).toMatch(
        new RegExp(`^${row.arm} +${row.agent} +${row.calls} +0 +\\$\\S+ +[\\d.]+ +[\\d.]+ +0$`, "m"),
      );
  });

  it("prints the raw report with --json, and passes --mde, --alpha, --power and --evaluation-cost on", async () => {
    const r = await cli(
      "--json",
      "experiments",
      "report",
      String(id),
      "--mde",
      "0.1",
      "--alpha",
      "0.01",
      "--power",
      "0.9",
      "--evaluation-cost",
      "0.5",
    );
    expectOk(r);
    const got = json<Report>(r);
    const want = await g.admin<Report>(
      "GET",
      `/experiments/${id}/report?mde=0.1&alpha=0.01&power=0.9&evaluation_cost_usd=0.5`,
    );
    expect({ ...got, generated_at: "" }).toEqual({ ...want, generated_at: "" });
    expect(got.alpha).toBe(0.01);
    expect(got.power?.mde_relative).toBe(0.1);
    expect(got.roi[0]?.evaluation_cost_usd).toBe(0.5);
    const defaults = await g.admin<Report>("GET", `/experiments/${id}/report`);
    expect(got.power?.units_per_arm).not.toBe(defaults.power?.units_per_arm);
  });

  it("renders an experiment without traffic, and has no per-agent table for an agent-scoped one", async () => {
    const r = await cli("experiments", "report", String(idle));
    expectOk(r);
    expect(r.stdout).toMatch(
      new RegExp(`^Experiment ${idle} 'idle': agent ops/triage, unit session, draft$`, "m"),
    );
    expect(r.stdout).toMatch(/^control +25% +0 +0 +- +- +triage=1$/m);
    expect(r.stdout).toMatch(/^other +75% +0 +0 +- +- +triage=2$/m);
    expect(r.stdout).toContain("SRM: not checked yet");
    expect(r.stdout).toContain("Power: not enough data yet");
    expect(r.stdout).toContain("ROI: none");
    expect(r.stdout).not.toMatch(/^ARM +AGENT/m);
  });

  it("refuses bad options before calling the server", async () => {
    const r = await cli("experiments", "report", String(id), "--alpha", "2");
    expect(expectOneLineError(r, 2)).toMatch(/^agentgate: --alpha must be a number between 0 and 0\.5/);
  });

  it("warns about a skewed split, refuses to promote on it, and promotes with --force", {
    timeout: 60_000,
  }, async () => {
    await insertSkew(g, { id, system: "wf", agent: "coordinator" }, "control", 120);
    let r = await cli("experiments", "report", String(id));
    expectOk(r);
    expect(r.stdout).toMatch(
      /^SRM: WARNING: sample ratio mismatch: units \d+ vs \d+ for weights 50%\/50% \(chi² [\d.]+, p (= [\d.]+e-\d+|< 1e-16); flagged below 0\.001\)\. The split is broken/m,
    );

    r = await cli("experiments", "promote", String(id), "hybrid");
    expect(expectOneLineError(r, 1).trimEnd()).toMatch(
      new RegExp(
        `^agentgate: refusing to promote: sample ratio mismatch .* \\(srm_detected\\); to promote anyway: agentgate experiments promote ${id} hybrid --force$`,
      ),
    );
    const before = await g.admin<{ version: number }>("GET", "/systems/wf/agents/writer/aliases/champion");
    expect(before.version).toBe(1);

    r = await cli("experiments", "promote", String(id), "hybrid", "--force", "--reason", "skew explained");
    expectOk(r);
    const [first, warning, ...rest] = r.stdout.split("\n");
    expect(first).toBe(
      `Promoted arm 'hybrid' of experiment ${id}: champion coordinator 1 -> 1, writer 1 -> 2; the experiment is stopped.`,
    );
    expect(warning).toMatch(
      /^WARNING: promoted despite a sample ratio mismatch \(p (= \d\.\de-\d+|< 1e-16)\); the audit log records it as forced\.$/,
    );
    expect(rest).toEqual([""]);
    const after = await g.admin<{ version: number; history: { action: string; reason: string }[] }>(
      "GET",
      "/systems/wf/agents/writer/aliases/champion",
    );
    expect(after.version).toBe(2);
    expect(after.history[0]).toMatchObject({ action: "promote", reason: "skew explained" });

    r = await cli("--json", "experiments", "promote", String(id), "hybrid");
    expect(expectOneLineError(r, 1).trimEnd()).toMatch(/already promoted arm 'hybrid' \(invalid_state\)$/);
  });
});
