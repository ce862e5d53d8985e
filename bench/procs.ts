/**
 * The bench's child processes and their CPU clocks. Each server (upstream, bare proxy, gateway)
 * runs in its own Node process so its CPU time can be read on its own: the child reports
 * `process.cpuUsage()` over IPC. PostgreSQL backends serving a gateway are read from
 * /proc/<pid>/stat (they are other processes on this machine).
 *
 * The children run JavaScript compiled by tsc (`buildChildren`), as production runs `dist/`, not
 * through tsx: tsx's transform wraps every function created at run time in a `__name` helper
 * (esbuild's keepNames), a per-call cost production does not pay.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FromChild, ToChild } from "./child.js";
import type { Mark } from "./stalls.js";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
let childScript = path.join(BENCH_DIR, "child.ts");
let childExecArgv = ["--import", "tsx"];

/**
 * Compiles bench/child.ts and everything it imports (src/, migrations/) with tsc into `outDir`
 * (which must sit inside the repository, so the compiled files find node_modules), and makes
 * `Proc.start` run the compiled child with plain node. With `tree`, another checkout's instead
 * (BENCH_AB_TREE), compiled by its own tsc; nothing changes for `Proc.start`, and the compiled
 * child's path is returned.
 */
export function buildChildren(outDir: string, tree?: string): string {
  const benchDir = tree ? path.join(tree, "bench") : BENCH_DIR;
  const tsc = createRequire(path.join(benchDir, "procs.ts")).resolve("typescript/bin/tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(benchDir, "tsconfig.json"), "--outDir", outDir], {
      stdio: "pipe",
    });
  } catch (err) {
    // tsc still emits when it finds type errors; only a missing output is fatal.
    const out = String((err as { stdout?: Buffer }).stdout ?? err);
    console.log(`warning: tsc reported problems while building the bench children:\n${out.slice(0, 2000)}`);
  }
  const script = path.join(outDir, "bench", "child.js");
  if (!existsSync(script)) throw new Error(`tsc did not produce ${script}`);
  if (!tree) {
    childScript = script;
    childExecArgv = [];
  }
  return script;
}

export type Cpu = { user: number; system: number; rss: number; marks?: Mark[] };

export class Proc {
  private nextId = 1;
  private readonly waiting = new Map<number, (c: Cpu) => void>();
  private exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on("message", (m: FromChild) => {
      if (m.type !== "cpu") return;
      this.waiting.get(m.id)?.({ user: m.user, system: m.system, rss: m.rss, marks: m.marks });
      this.waiting.delete(m.id);
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    // A send on a channel the child already closed (it was stopped by a signal) is not fatal here.
    child.on("error", () => {});
  }

  static start(
    name: string,
    args: string[],
    /** `script`: a compiled child other than this checkout's (BENCH_AB_TREE). */
    opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; script?: string } = {},
  ): Promise<Proc> {
    const child = fork(opts.script ?? childScript, args, {
      execArgv: [...childExecArgv, ...(opts.execArgv ?? [])],
      env: opts.env ?? process.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`${name} exited (code ${code}) before it was ready`));
      child.once("exit", onExit);
      child.on("message", function ready(m: FromChild) {
        if (m.type !== "ready") return;
        child.off("message", ready);
        child.off("exit", onExit);
        resolve(new Proc(name, child, m.url));
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** CPU time used so far (µs), read by the child after it has settled its background work. */
  cpu(): Promise<Cpu> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ type: "cpu", id } satisfies ToChild);
    });
  }

  /** Starts the child's CPU profiler, or (with `file`) stops it and writes the profile there. */
  profile(file?: string): Promise<void> {
    return new Promise((resolve) => {
      const done = (m: FromChild) => {
        if (m.type !== "profiled") return;
        this.child.off("message", done);
        resolve();
      };
      this.child.on("message", done);
      this.child.send({ type: "profile", ...(file ? { file } : {}) } satisfies ToChild);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // On Ctrl-C or a `timeout`, the signal may already have reached the child and closed the channel.
    if (this.child.connected) this.child.send({ type: "stop" } satisfies ToChild);
    else this.child.kill("SIGTERM");
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(killer);
  }
}

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** utime + stime of a process in µs, from /proc (null when it is gone or not readable). */
export function procCpuUs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return null;
  }
}

/** CPU time (µs) the whole machine has spent busy (all CPUs, not idle or waiting on I/O). */
export function machineBusyUs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_US;
}
