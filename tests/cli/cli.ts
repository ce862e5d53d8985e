/**
 * Runs the real `agentgate` CLI as a child process (`node <its flags> --import tsx src/cli/index.ts`), with a
 * clean environment plus what each test sets, and keeps track of long-running children so a
 * failing test never leaves a server behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { expect } from "vitest";
import { SERVER_NODE_FLAGS } from "../../src/node-flags.js";
import { REPO_ROOT } from "../helpers/gateway-process.js";

// One free-port helper and one repository root for every suite.
export { freePort, REPO_ROOT } from "../helpers/gateway-process.js";

// With the server's Node flags, as `npm start` runs it.
const NODE_ARGS = [...SERVER_NODE_FLAGS, "--import", "tsx", "src/cli/index.ts"];

export type CliResult = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
};

/** Only what a child needs to find node and a temp dir; nothing from the test's own environment. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ["PATH", "HOME", "TMPDIR"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

const running = new Set<ChildProcess>();

export type CliProcess = {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

export function spawnCli(args: string[], env: Record<string, string> = {}, input?: string): CliProcess {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  child.stdin?.end(input);
  running.add(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    // "close" (not "exit") so the output streams are complete.
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs one CLI command to completion (with `input` on stdin); kills it if it runs too long. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const p = spawnCli(args, env, opts.input);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
  try {
    const { code, signal } = await p.exited;
    return { code, signal, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** Kills one child if it is still running and waits until it is gone. */
export async function stop(p: CliProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited.catch(() => {});
}

/** Kills every child still running (a backstop for afterAll) and waits until they are gone. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("close", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}

/** Polls `/healthz` until it answers 200; fails early, with the child's stderr, if it exits. */
export async function waitForHealthy(url: string, p: CliProcess, timeoutMs = 60_000): Promise<void> {
  let exited = false;
  void p.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`serve exited before becoming healthy: ${p.stderr()}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`serve did not become healthy within ${timeoutMs} ms: ${p.stderr()}`);
}

/** Parses `--json` output, failing with the raw text when it is not JSON. */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

const NO_STACK = /\n\s+at /;

/** Exit 0 with nothing on stderr, or a failure message that shows what the CLI said. */
export function expectOk(r: CliResult): void {
  expect(r.stderr, `stderr of a command that should succeed: ${r.stderr}`).toBe("");
  expect(r.code).toBe(0);
}

/** Exit `code` with exactly one stderr line, no stack trace, nothing on stdout. */
export function expectOneLineError(r: CliResult, code: number): string {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe("");
  expect(r.stderr).not.toMatch(NO_STACK);
  expect(r.stderr.endsWith("\n")).toBe(true);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  return r.stderr;
}
