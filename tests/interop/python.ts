/**
 * Runs Python scripts of the interop suites in the `.venv-interop/` virtualenv (PyPI's `openai`,
 * `dspy`, `litellm`; made by scripts/python-venv.sh) and reads the JSON result they print.
 *
 * Contract with a script (see tests/interop/py/interop.py): it prints its result as one line
 * `@@agentgate-result <json>` on stdout — a marker, because libraries print their own lines
 * (LiteLLM's "Give Feedback" banner) — and exits 0. Anything else (a missing venv, an import
 * error, a crash, a timeout, no result line) throws with the script's stderr, so the suite fails
 * loudly instead of skipping.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const INTEROP_VENV = path.join(REPO_ROOT, ".venv-interop");
export const PY_DIR = fileURLToPath(new URL("./py/", import.meta.url));
const RESULT_MARKER = "@@agentgate-result ";

/** The venv's interpreter; throws (never skips) when the venv is missing. */
export function interopPython(venv = INTEROP_VENV): string {
  const python = path.join(venv, "bin", "python");
  if (!existsSync(python)) {
    throw new Error(
      `The Python interop virtualenv is missing (${python}). Make it with ` +
        "`bash scripts/python-venv.sh .venv-interop tests/interop/requirements.txt` " +
        "(npm run test:interop does it first), then run the suite again.",
    );
  }
  return python;
}

export type PythonRun<T> = { result: T; stdout: string; stderr: string; ms: number };

export type PythonOptions = {
  /** Extra environment for the script (base URLs, keys...). */
  env?: Record<string, string>;
  args?: string[];
  timeoutMs?: number;
  venv?: string;
};

/**
 * Environment every script gets: no proxies and no ambient OpenAI settings (tests talk only to
 * 127.0.0.1, and a developer's OPENAI_BASE_URL must not redirect a call), LiteLLM's bundled price
 * map instead of a download, and DSPy's disk cache in a throw-away directory.
 */
function baseEnv(scratch: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: scratch,
    LANG: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONPATH: PY_DIR,
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
    LITELLM_LOCAL_MODEL_COST_MAP: "True",
    LITELLM_LOG: "ERROR",
    DSPY_CACHEDIR: path.join(scratch, "dspy-cache"),
  };
}

/** Runs `py/<script>` and returns the JSON it printed after the result marker. */
export async function runPython<T = unknown>(
  script: string,
  opts: PythonOptions = {},
): Promise<PythonRun<T>> {
  const python = interopPython(opts.venv);
  const file = path.isAbsolute(script) ? script : path.join(PY_DIR, script);
  const scratch = mkdtempSync(path.join(os.tmpdir(), "agentgate-py-"));
  const started = performance.now();
  try {
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        python,
        [file, ...(opts.args ?? [])],
        {
          cwd: REPO_ROOT,
          env: { ...baseEnv(scratch), ...opts.env },
          timeout: opts.timeoutMs ?? 120_000,
          killSignal: "SIGKILL",
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, out, errOut) => {
          if (err) {
            const why = err.killed ? `killed after ${opts.timeoutMs ?? 120_000} ms` : `exit ${err.code}`;
            reject(new Error(`${path.basename(file)} failed (${why}):\n${tail(errOut)}\n${tail(out)}`));
          } else resolve({ stdout: out, stderr: errOut });
        },
      );
    });
    const line = stdout
      .split("\n")
      .reverse()
      .find((l) => l.startsWith(RESULT_MARKER));
    if (line === undefined) {
      throw new Error(`${path.basename(file)} printed no result line:\n${tail(stderr)}\n${tail(stdout)}`);
    }
    const result = JSON.parse(line.slice(RESULT_MARKER.length)) as T;
    return { result, stdout, stderr, ms: performance.now() - started };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}
