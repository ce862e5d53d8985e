/**
 * Drives simulated traffic: many workflow runs of one system, a few at a time, each graded and its
 * outcome posted as session feedback; and a progress board with one line per system — redrawn in
 * place on a terminal, printed once per system when it finishes otherwise (CI logs, tests).
 */
import type OpenAI from "openai";
import type { ApiClient } from "../cli/client.js";
import type { SystemSpec } from "./scenario.js";
import { postOutcome, type RunResult, runWorkflow } from "./workflow.js";

/** What one system's traffic produced so far. */
export type Tally = {
  runs: number;
  target: number;
  calls: number;
  failedCalls: number;
  /** Calls the gateway retried on the champion after the arm's upstream failed. */
  fallbacks: number;
  /** Runs whose calls were not all served by one arm (the gateway promises none). */
  splitRuns: number;
  byArm: Map<string, { runs: number; successes: number }>;
  startedAt: number;
  finishedAt: number | null;
};

/** The tally key of runs with no call in an experiment. */
export const NO_ARM = "(no arm)";

export const newTally = (target: number): Tally => ({
  runs: 0,
  target,
  calls: 0,
  failedCalls: 0,
  fallbacks: 0,
  splitRuns: 0,
  byArm: new Map(),
  startedAt: Date.now(),
  finishedAt: null,
});

export function addRun(t: Tally, run: RunResult): void {
  t.runs++;
  t.calls += run.calls.length;
  t.failedCalls += run.calls.filter((c) => !c.ok).length;
  t.fallbacks += run.calls.filter((c) => c.route === "fallback").length;
  if (!run.oneArm) t.splitRuns++;
  const arm = run.arm ?? NO_ARM;
  const a = t.byArm.get(arm) ?? { runs: 0, successes: 0 };
  a.runs++;
  if (run.success) a.successes++;
  t.byArm.set(arm, a);
}

const TASKS = [
  "a customer asks why they were charged twice",
  "summarise the trade-offs of three database designs",
  "find the root cause of a failed deployment",
  "plan a three-city trip under a fixed budget",
  "answer a multi-hop question about a company's history",
];

export type DriveOptions = {
  runs: number;
  concurrency: number;
  /** Distinguishes this demo's session ids from any earlier one's. */
  runPrefix: string;
  /** Stop early when this returns true (checked before each run). */
  until?: () => boolean;
  onRun?: (run: RunResult) => void;
};

/** Runs up to `runs` workflow runs of `system`, `concurrency` at a time; resolves with the tally. */
export async function driveSystem(
  client: OpenAI,
  evaluator: ApiClient,
  system: SystemSpec,
  tally: Tally,
  opts: DriveOptions,
): Promise<Tally> {
  let next = 0;
  const worker = async () => {
    while (next < opts.runs && !opts.until?.()) {
      const n = next++;
      const runId = `${opts.runPrefix}-${system.name}-${String(n + 1).padStart(5, "0")}`;
      const run = await runWorkflow(client, system, runId, TASKS[n % TASKS.length] as string);
      await postOutcome(evaluator, run);
      addRun(tally, run);
      opts.onRun?.(run);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  tally.finishedAt = Date.now();
  return tally;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** One line: system, topology, runs, calls, success per arm. */
export function progressLine(system: SystemSpec, t: Tally): string {
  const secs = (((t.finishedAt ?? Date.now()) - t.startedAt) / 1000).toFixed(1);
  const arms = [...t.byArm.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([arm, a]) => `${arm} ${pct(a.successes / a.runs)}`)
    .join(" · ");
  const failed =
    (t.failedCalls > 0 ? `, ${t.failedCalls} failed` : "") +
    (t.fallbacks > 0 ? `, ${t.fallbacks} fell back` : "");
  const split = t.splitRuns > 0 ? `, ${t.splitRuns} runs split across arms!` : "";
  const done = t.finishedAt ? "done" : "    ";
  return (
    `  ${system.topology.padEnd(13)} ${system.name.padEnd(8)} ${String(t.runs).padStart(4)}/${t.target} runs ` +
    `${String(t.calls).padStart(5)} calls${failed}${split} ${secs.padStart(5)} s ${done}  success: ${arms}`
  );
}

/** The progress board: in place on a TTY (at most 5 redraws a second), else one line per finish. */
export class ProgressBoard {
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private readonly printed = new Set<string>();

  constructor(
    private readonly rows: { system: SystemSpec; tally: Tally }[],
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  private get live(): boolean {
    return this.out.isTTY === true;
  }

  start(): void {
    if (this.live) this.timer = setInterval(() => this.draw(), 200);
  }

  /** Call when a system finishes (prints its line in non-TTY mode). */
  finished(system: SystemSpec): void {
    const row = this.rows.find((r) => r.system === system);
    if (!this.live && row && !this.printed.has(system.name)) {
      this.printed.add(system.name);
      this.out.write(`${progressLine(row.system, row.tally)}\n`);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.live) this.draw();
  }

  private draw(): void {
    // Cut to the terminal's width: a wrapped line would break the redraw.
    const width = Math.max(20, (this.out.columns ?? 120) - 1);
    const lines = this.rows.map((r) => progressLine(r.system, r.tally).slice(0, width));
    // Move up over the previous drawing and overwrite it, clearing each line's tail.
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    this.out.write(`${up}${lines.map((l) => `\r${l}\x1b[K`).join("\n")}\n`);
    this.drawn = lines.length;
  }
}
