/**
 * The readable form of an experiment report (`agentgate experiments report <id>`) and of a
 * promotion: arms, the sample-ratio check, every metric with its intervals and verdict, power,
 * ROI, and the per-agent breakdown of system-scoped experiments. `--json` prints the report as
 * the API returns it instead.
 */
import type { PromoteResult } from "../../experiments/promote.js";
import type { Report } from "../../experiments/report/report.js";
import { type Cell, print, printTable } from "../output.js";

type Metric = Report["metrics"][number];
type Comparison = Metric["comparisons"][number];
type Interval = [number, number];

/** Four significant digits; tiny values (costs) in exponent form; large ones grouped. */
export function fmtNum(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "-";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 100_000) return Math.round(x).toLocaleString("en");
  if (a < 0.001) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

const signed = (x: number) => (x > 0 ? `+${fmtNum(x)}` : fmtNum(x));
const pct = (x: number) => `${x > 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
const interval = (ci: Interval | null, f: (x: number) => string = fmtNum) =>
  ci ? `[${f(ci[0])}, ${f(ci[1])}]` : "";
const usd = (x: number) => `$${fmtNum(x)}`;
const count = (n: number) => n.toLocaleString("en");

/** p-values: four decimals, exponent form below 0.0001, and "<1e-16" below double precision. */
export function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined) return "-";
  if (p < 1e-16) return "<1e-16";
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

/** "p = 0.0123", or "p < 1e-16". */
const pText = (p: number | null | undefined) => {
  const f = fmtP(p);
  return f.startsWith("<") ? `p ${f.replace("<", "< ")}` : `p = ${f}`;
};

const weightsText = (weights: number[]) => weights.map((w) => `${(w * 100).toFixed(0)}%`).join("/");

function srmLine(srm: Report["srm"]): string {
  if (!srm) return "SRM: not checked yet (no units, or a single arm takes all traffic).";
  const units = srm.counts.map(count).join(" vs ");
  // During a ramp the check covers only the units first seen since the current step began.
  const start = (srm as { since?: string | null }).since;
  const since = start ? ` since ${start}` : "";
  const stats = `chi² ${srm.chi2.toFixed(2)}, ${pText(srm.p)}`;
  if (!srm.flagged)
    return `SRM: ok: units ${units}${since} match the weights ${weightsText(srm.weights)} (${stats}).`;
  return (
    `SRM: WARNING: sample ratio mismatch: units ${units}${since} for weights ${weightsText(srm.weights)} ` +
    `(${stats}; flagged below 0.001). The split is broken, so the comparisons below cannot be trusted; ` +
    "promotion is refused until the cause is found (or forced with --force)."
  );
}

type MetricRow = { metric: Metric; arm: string; n: number; value: string; c: Comparison | null };

function metricRows(metrics: Metric[]): MetricRow[] {
  return metrics.flatMap((m) =>
    m.arms.map((a) => {
      const value = a.estimate === null ? "-" : `${fmtNum(a.estimate)} ${interval(a.ci)}`.trim();
      return { metric: m, arm: a.arm, n: a.n, value, c: m.comparisons.find((c) => c.arm === a.arm) ?? null };
    }),
  );
}

function powerLine(power: Report["power"], powerLevel: number, alpha: number): string {
  if (!power) return "Power: not enough data yet to plan (the control needs a value from 2+ units).";
  const still = power.remaining.map((r) => `${r.arm} ${count(r.units)}`).join(", ");
  const done = power.remaining.every((r) => r.units === 0);
  return (
    `Power: to detect a ${(power.mde_relative * 100).toFixed(0)}% relative change in ${power.metric} ` +
    `(control ${fmtNum(power.control_value)}) at alpha ${alpha} and ${(powerLevel * 100).toFixed(0)}% power: ` +
    `${count(power.units_per_arm)} units per arm; ${done ? "every arm has enough" : `still needed: ${still}`}.`
  );
}

function roiLines(report: Report): string[] {
  if (report.roi.length === 0)
    return [
      "ROI: none (no treatment arm uses a fine-tuned version the control does not, or no priced calls).",
    ];
  return report.roi.map((r) => {
    const unit = r.per === "call" ? "call" : "workflow run";
    const head =
      `ROI ${r.arm} vs ${report.arms[0]?.name} (per ${unit}): upfront ${usd(r.upfrontCost)} ` +
      `(training ${usd(r.training_cost_usd)} + evaluation ${usd(r.evaluation_cost_usd)}); ` +
      `cost per ${unit} ${usd(r.cost_control)} -> ${usd(r.cost_arm)}`;
    if (!r.breaksEven || r.breakEvenCalls === null)
      return `${head}; never breaks even on cost (not cheaper per ${unit}: saving ${usd(r.savingPerCall)}).`;
    const rate =
      r.observed_per_day === null ? "" : ` at the observed ${count(Math.round(r.observed_per_day))} per day`;
    const days =
      r.daysToBreakEven === null
        ? "days unknown (no traffic rate)"
        : `${fmtNum(r.daysToBreakEven)} days${rate}`;
    return `${head}, saving ${usd(r.savingPerCall)}; breaks even after ${count(r.breakEvenCalls)} ${unit}s, ${days}.`;
  });
}

export function printReport(r: Report, powerLevel: number): void {
  const e = r.experiment;
  const scope = e.scope === "agent" ? `agent ${e.system}/${e.agent}` : `system ${e.system}`;
  const when = e.started_at ? `, started ${e.started_at}` : "";
  print(`Experiment ${e.id} '${e.name}': ${scope}, unit ${e.unit}, ${e.status}${when}`);
  print(`Primary metric: ${e.primary_metric ?? "none"}. Report of ${r.generated_at}, alpha ${r.alpha}.`);
  print();
  printTable(
    r.arms,
    [
      { header: "ARM", value: (a) => a.name },
      { header: "WEIGHT", value: (a) => `${(a.weight * 100).toFixed(0)}%` },
      { header: "UNITS", value: (a) => count(a.units) },
      { header: "CALLS", value: (a) => count(a.calls) },
      { header: "P50 MS", value: (a) => fmtNum(a.latency_p50_ms) },
      { header: "P95 MS", value: (a) => fmtNum(a.latency_p95_ms) },
      {
        header: "VERSIONS",
        value: (a) =>
          Object.entries(a.versions)
            .map(([agent, v]) => `${agent}=${v}`)
            .join(", "),
      },
    ],
    "No arms.",
  );
  print();
  print(srmLine(r.srm));
  print();
  const cmp = (f: (c: Comparison) => Cell) => (row: MetricRow) => (row.c ? f(row.c) : "");
  printTable(
    metricRows(r.metrics),
    [
      { header: "METRIC", value: (row) => `${row.metric.name} (${row.metric.direction})` },
      { header: "ARM", value: (row) => row.arm },
      { header: "N", value: (row) => count(row.n) },
      { header: "ESTIMATE [95% CI]", value: (row) => row.value },
      {
        header: "LIFT VS CONTROL [CI]",
        value: cmp((c) => (c.lift === null ? "" : `${pct(c.lift)} ${interval(c.lift_ci, pct)}`.trim())),
      },
      { header: "P", value: cmp((c) => fmtP(c.p)) },
      { header: "P ADJ", value: cmp((c) => fmtP(c.p_adjusted)) },
      { header: "ALWAYS-VALID DIFF CI", value: cmp((c) => interval(c.always_valid.ci, signed)) },
      { header: "VERDICT", value: cmp((c) => c.verdict) },
    ],
    "No metrics yet.",
  );
  print(
    "Verdicts use the always-valid interval (safe to read while the test runs); P ADJ is Holm across arms and decision metrics.",
  );
  print();
  print(powerLine(r.power, powerLevel, r.alpha));
  for (const line of roiLines(r)) print(line);
  if (e.scope === "system") {
    print();
    printTable(
      r.per_agent,
      [
        { header: "ARM", value: (a) => a.arm },
        { header: "AGENT", value: (a) => a.agent },
        { header: "CALLS", value: (a) => count(a.calls) },
        { header: "ERROR RATE", value: (a) => fmtNum(a.error_rate) },
        { header: "COST/CALL", value: (a) => (a.cost_per_call === null ? "-" : usd(a.cost_per_call)) },
        { header: "TOKENS/CALL", value: (a) => fmtNum(a.tokens_per_call) },
        { header: "P50 MS", value: (a) => fmtNum(a.latency_p50_ms) },
        { header: "FALLBACKS", value: (a) => count(a.fallbacks) },
      ],
      "No calls per agent yet.",
    );
  }
}

export function printPromotion(p: PromoteResult): void {
  const moves = p.champions.map((c) => `${c.agent} ${c.from ?? "-"} -> ${c.to}`).join(", ");
  print(
    `Promoted arm '${p.arm}' of experiment ${p.experiment}: champion ${moves}; the experiment is stopped.`,
  );
  if (p.forced)
    print(
      `WARNING: promoted despite a sample ratio mismatch (${pText(p.srm_p)}); the audit log records it as forced.`,
    );
}
