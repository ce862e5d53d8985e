/**
 * Gateway replicas as real child processes (`agentgate serve`, run from source), and small
 * child-process utilities for the data-plane suites. Every child is tracked so `stopAllChildren`
 * in an `afterAll` never leaves one behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVER_NODE_FLAGS } from "../../src/node-flags.js";
import { ADMIN_TOKEN } from "./instance.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type ChildRun = {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
};

const running = new Set<ChildProcess>();

/** Only what a child needs to run node; nothing else from the test's environment. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ["PATH", "HOME", "TMPDIR"]) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/** Runs `node [nodeArgs] --import tsx <script> [args]` from the repository root, tracked for cleanup. */
export function spawnTsx(
  script: string,
  env: Record<string, string> = {},
  input?: string,
  args: string[] = [],
  nodeArgs: readonly string[] = [],
): ChildRun {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    cwd: REPO_ROOT,
    env: { ...baseEnv(), ...env },
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
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Kills every child still running (SIGKILL) and waits for them to go. */
export async function stopAllChildren(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("close", () => resolve());
          c.kill("SIGKILL");
        }),
    ),
  );
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type GatewayProcess = ChildRun & {
  url: string;
  dataDir: string;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
  /** Kills the process if still running and removes its data directory. */
  close(): Promise<void>;
};

/**
 * Starts `agentgate serve` (`node <its flags> --import tsx src/cli/index.ts serve`) on a free port with its own
 * data directory and the test admin token, and waits until `/readyz` answers 200 (database
 * reachable, routing table loaded). SIGTERM stops it gracefully with exit code 0.
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-replica-"));
  const run = spawnTsx(
    "src/cli/index.ts",
    {
      PORT: String(port),
      HOST: "127.0.0.1",
      AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      AGENTGATE_DATA_DIR: dataDir,
      AGENTGATE_LOG_LEVEL: "warn",
      ...env,
    },
    undefined,
    ["serve"],
    SERVER_NODE_FLAGS,
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal);
    return run.exited;
  };
  const proc: GatewayProcess = {
    ...run,
    url,
    dataDir,
    stop,
    async close() {
      await stop("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 30_000;
  let exited = false;
  void run.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`gateway process exited during start: ${run.stderr()}`);
    if (Date.now() > deadline) {
      await proc.close();
      throw new Error(`gateway process not ready within 30 s: ${run.stderr()}`);
    }
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
}
