/**
 * The demo's scripted scenes after the strategy experiments: deciding them (promote the winner or
 * stop), a bad fine-tune that the guardian rolls back on its own, and a manual pin. Each scene
 * talks to the gateway only through the admin API and the proxy, and returns what it observed so
 * the demo can check it (and fail loudly if the gateway did not do what it promises).
 */
import type OpenAI from "openai";
import { type ApiClient, seg } from "../cli/client.js";
import { fmtNum, fmtP } from "../cli/commands/experiment-report.js";
import { print, printTable } from "../cli/output.js";
import type { Report } from "../experiments/report/report.js";
import type { ExperimentView } from "../experiments/schemas.js";
import { driveSystem, newTally, ProgressBoard, type Tally } from "./drive.js";
import { BAD_MODEL, FEEDBACK_METRIC, type SystemSpec } from "./scenario.js";
import { OPENAI_UPSTREAM } from "./seed.js";
import { type RunResult, runWorkflow } from "./workflow.js";

export type SceneContext = {
  api: ApiClient;
  agents: OpenAI;
  evaluator: ApiClient;
  runPrefix: string;
  /** Makes the gateway apply a registry change now (the NOTIFY does it within milliseconds). */
  syncRouting: () => Promise<void>;
};

/**
 * Promotes the best arm that beats the control on the primary metric, else stops the experiment.
 * The demo fixed its number of runs in advance and looks once, at the end: that is a fixed-horizon
 * design, so the Holm-adjusted fixed-horizon p-value decides (the always-valid verdict is the one
 * to use when looking while the test runs).
 */
export async function decide(ctx: SceneContext, report: Report): Promise<string> {
  const e = report.experiment;
  const primary = report.metrics.find((m) => m.name === FEEDBACK_METRIC);
  const winners = (primary?.comparisons ?? [])
    .filter((c) => c.p_adjusted !== null && c.p_adjusted < report.alpha && c.diff > 0)
    .sort((a, b) => b.diff - a.diff);
  const best = winners[0];
  if (report.srm?.flagged) {
    await ctx.api.post(`/experiments/${e.id}/stop`, { reason: "demo: sample ratio mismatch" });
    return `  ${e.system}: stopped (sample ratio mismatch: the split cannot be trusted).`;
  }
  if (best) {
    const reason = `demo: '${best.arm}' beats control on ${FEEDBACK_METRIC} (Holm-adjusted p = ${fmtP(best.p_adjusted)})`;
    await ctx.api.post(`/experiments/${e.id}/promote`, { arm: best.arm, reason });
    return `  ${e.system}: promoted '${best.arm}' (${FEEDBACK_METRIC} +${fmtNum(best.diff * 100)} points, Holm-adjusted p = ${fmtP(best.p_adjusted)}); its versions are now the champions.`;
  }
  await ctx.api.post(`/experiments/${e.id}/stop`, {
    reason: `demo: no arm beats control on ${FEEDBACK_METRIC} at this sample size`,
  });
  return `  ${e.system}: stopped, champions unchanged (no arm beats control on ${FEEDBACK_METRIC} at this sample size).`;
}

export type RollbackOutcome = {
  experiment: ExperimentView;
  runs: number;
  seconds: number;
  rolledBack: boolean;
  auditEntry: { id: number; actor: string; object_key: string; reason: string | null } | null;
};

/**
 * A new billing fine-tune, served by an overloaded server (30% of calls fail, 2.5 s each), goes
 * into an agent-scoped experiment with guardrails. Failed calls fall back to the champion, so no
 * customer sees an error; the guardian sees the arm's error rate and stops the experiment.
 */
export async function guardrailRollback(
  ctx: SceneContext,
  support: SystemSpec,
  opts: { maxRuns: number; maxSeconds: number },
): Promise<RollbackOutcome> {
  const billing = `/systems/${seg(support.name)}/agents/billing`;
  const agent = await ctx.api.get<{ champion: number }>(billing);
  const candidate = await ctx.api.post<{ version: number }>(`${billing}/versions`, {
    kind: "fine_tuned",
    upstream: OPENAI_UPSTREAM,
    model: BAD_MODEL,
    prompt: { system: "Resolve billing questions.", mode: "replace", demos: [] },
    lineage: {
      parent_version: agent.champion,
      base_model: "gpt-4.1-nano-2025-04-14",
      dataset: "billing-traces-v2",
    },
    training_cost_usd: 4.2,
    tags: { strategy: "per_agent", note: "retrained on new traces; served from a new, overloaded pool" },
  });
  const guardrails = [
    { metric: "error_rate", max_increase: 0.02, min_units: 30 },
    { metric: "latency_geomean_ms", max_increase: 0.5, relative: true, min_units: 30 },
  ];
  const created = await ctx.api.post<ExperimentView>("/experiments", {
    name: "billing-ft-v2",
    system: support.name,
    agent: "billing",
    description: "the retrained billing fine-tune against the champion, with guardrails",
    arms: [
      { name: "control", weight: 50, versions: { billing: agent.champion } },
      { name: "candidate", weight: 50, versions: { billing: candidate.version } },
    ],
    primary_metric: FEEDBACK_METRIC,
    guardrails,
  });
  let current = await ctx.api.post<ExperimentView>(`/experiments/${created.id}/start`);
  await ctx.syncRouting();
  print(
    `Experiment ${created.id} 'billing-ft-v2': support/billing v${agent.champion} (control) vs v${candidate.version} ` +
      `(candidate, ${BAD_MODEL}); guardrails: error_rate at most +2 points, latency at most +50%, judged from 30 runs per arm.`,
  );

  const watch = setInterval(() => {
    void ctx.api
      .get<ExperimentView>(`/experiments/${created.id}`)
      .then((e) => {
        current = e;
      })
      .catch(() => {});
  }, 250);
  const tally: Tally = newTally(opts.maxRuns);
  const board = new ProgressBoard([{ system: support, tally }]);
  const deadline = Date.now() + opts.maxSeconds * 1000;
  board.start();
  try {
    await driveSystem(ctx.agents, ctx.evaluator, support, tally, {
      runs: opts.maxRuns,
      concurrency: 6,
      runPrefix: `${ctx.runPrefix}-guardrail`,
      until: () => current.status !== "running" || Date.now() > deadline,
    });
  } finally {
    clearInterval(watch);
    board.stop();
    board.finished(support);
  }
  const experiment = await ctx.api.get<ExperimentView>(`/experiments/${created.id}`);
  const audit = await ctx.api.get<{ data: NonNullable<RollbackOutcome["auditEntry"]>[] }>("/audit", {
    action: "experiment.auto_rollback",
    object_type: "experiment",
    object: String(created.id),
    limit: 1,
  });
  const entry = audit.data[0] ?? null;
  const rolledBack = experiment.status === "stopped" && (experiment.end_reason ?? "").includes("guardrail");
  return {
    experiment,
    runs: tally.runs,
    seconds: ((tally.finishedAt ?? Date.now()) - tally.startedAt) / 1000,
    rolledBack,
    auditEntry: entry,
  };
}

const callRows = (run: RunResult) =>
  printTable(
    run.calls,
    [
      { header: "AGENT", value: (c) => c.agent },
      { header: "X-AGENTGATE-ROUTE", value: (c) => c.route },
      { header: "VERSION", value: (c) => c.version },
      { header: "REQUEST ID", value: (c) => c.requestId },
    ],
    "(no calls)",
  );

export type PinOutcome = { pinned: RunResult; unpinned: RunResult; agent: string; version: number };

/** Pins the coordinator to its global fine-tune, shows a run, unpins, shows another run. */
export async function manualPin(ctx: SceneContext, support: SystemSpec): Promise<PinOutcome> {
  const agent = "coordinator";
  const path = `/systems/${seg(support.name)}/agents/${agent}/pin`;
  const version = 3;
  await ctx.api.put(path, {
    version,
    reason: "demo: freeze the coordinator while investigating a complaint",
  });
  await ctx.syncRouting();
  const pinned = await runWorkflow(
    ctx.agents,
    support,
    `${ctx.runPrefix}-pinned`,
    "a customer asks for a refund",
  );
  print(`Pinned ${support.name}/${agent} to v${version}; one workflow run:`);
  callRows(pinned);
  await ctx.api.delete(path, { reason: "demo: investigation over" });
  await ctx.syncRouting();
  const unpinned = await runWorkflow(
    ctx.agents,
    support,
    `${ctx.runPrefix}-unpinned`,
    "a customer asks for a refund",
  );
  print(`Unpinned; the next run goes back to the champions:`);
  callRows(unpinned);
  return { pinned, unpinned, agent, version };
}
