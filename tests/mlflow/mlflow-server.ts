/**
 * A real MLflow tracking server for the suite: `mlflow server` from `.venv-mlflow` (PyPI mlflow,
 * made by `npm run test:mlflow`), SQLite backend and artifact root in a temporary directory, on a
 * free loopback port, one worker. Stopped (its whole process group) and removed after the suite.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, REPO_ROOT } from "../cli/cli.js";

const VENV = path.join(REPO_ROOT, ".venv-mlflow");
export const MLFLOW_BIN = path.join(VENV, "bin", "mlflow");
export const MLFLOW_PYTHON = path.join(VENV, "bin", "python");

export type MlflowServer = { url: string; stop(): Promise<void> };

export async function startMlflowServer(
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<MlflowServer> {
  const timeoutMs = opts.timeoutMs ?? 180_000;
  if (!existsSync(MLFLOW_BIN))
    throw new Error(`${MLFLOW_BIN} is missing: run 'npm run test:mlflow' (it builds .venv-mlflow first)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-mlflow-"));
  const port = await freePort();
  const child = spawn(
    MLFLOW_BIN,
    [
      "server",
      "--backend-store-uri",
      `sqlite:///${path.join(dir, "mlflow.db")}`,
      "--default-artifact-root",
      path.join(dir, "artifacts"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--workers",
      "1",
    ],
    // Its own process group, so stopping it also stops the uvicorn worker it starts.
    {
      cwd: dir,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, MLFLOW_TRACKING_URI: "", ...opts.env },
    },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await killGroup(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) {
      await stop();
      throw new Error(`mlflow server exited before it was healthy:\n${stderr}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`mlflow server did not become healthy within ${timeoutMs} ms:\n${stderr}`);
}

async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
  // The worker may outlive the parent by a moment; make sure the group is gone.
  signal("SIGKILL");
}

/** Runs a Python snippet with the venv's interpreter (the `mlflow` Python client); resolves stdout. */
export async function runPython(code: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(MLFLOW_PYTHON, ["-c", code], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return stdout;
}
