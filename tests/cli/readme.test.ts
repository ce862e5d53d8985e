/**
 * The README's quickstart, as written: its shell blocks run in bash, one after the other, with
 * `npx agentgate` being this checkout's CLI. Two stand-ins, because a test cannot reach the
 * internet or keep a shell open: the provider's URL points at the fake upstream, and `npm start &`
 * starts the server in the background the same way (`agentgate serve`, no build step) and waits
 * until it answers. The Python snippet's call is made with the openai npm SDK, as written (model
 * `agent:support/coordinator`, the run id as `X-Session-Id`), with the proxy key the quickstart
 * created. A README edit that breaks a command fails here.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";
import { cleanEnv, freePort, REPO_ROOT } from "./cli.js";

type Block = { lang: string; code: string };

/** The fenced blocks of the README's `## Quickstart` section. */
function quickstartBlocks(): Block[] {
  const readme = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Quickstart\n");
  const end = readme.indexOf("\n## ", start + 1);
  expect(start).toBeGreaterThan(0);
  const section = readme.slice(start, end);
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] as string,
    code: m[2] as string,
  }));
}

/** `npx agentgate ...` is this checkout's CLI; `npm start &` starts it and waits for /healthz. */
const PRELUDE = `set -euo pipefail
npx() {
  if [ "$1" = agentgate ]; then shift; node --import tsx src/cli/index.ts "$@"; else command npx "$@"; fi
}
start_server() {
  node --import tsx src/cli/index.ts serve > "$SERVER_LOG" 2>&1 &
  echo $! > "$SERVER_PID"
  for _ in $(seq 1 300); do
    node -e "fetch(process.env.AGENTGATE_URL + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && return 0
    sleep 0.2
  done
  echo "the server did not start" >&2; cat "$SERVER_LOG" >&2; return 1
}
`;

type Run = { code: number | null; stdout: string; stderr: string };

function bash(script: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", PRELUDE + script], { cwd: REPO_ROOT, env: cleanEnv(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the README quickstart", () => {
  let fake: FakeUpstream;
  let tmp: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-readme-"));
    const port = await freePort();
    env = {
      PORT: String(port),
      AGENTGATE_URL: `http://127.0.0.1:${port}`,
      AGENTGATE_DATA_DIR: path.join(tmp, "data"),
      AGENTGATE_LOG_LEVEL: "warn",
      SERVER_LOG: path.join(tmp, "server.log"),
      SERVER_PID: path.join(tmp, "server.pid"),
    };
  });
  afterAll(async () => {
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(path.join(tmp, "server.pid"), "utf8"));
    } catch {
      // never started
    }
    if (Number.isInteger(pid)) {
      try {
        process.kill(pid, "SIGTERM");
        for (let i = 0; i < 100; i++) {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 100));
        }
      } catch {
        // gone
      }
    }
    await fake?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("runs every command of it against a real server, in order", { timeout: 180_000 }, async () => {
    const blocks = quickstartBlocks();
    expect(blocks.map((b) => b.lang)).toEqual(["sh", "sh", "python", "sh"]);
    const [setup, experiment, agentCall, decide] = blocks as [Block, Block, Block, Block];

    // 1. Start the server with a fresh admin token, register the system, versions and a proxy key.
    expect(setup.code).toContain("npm start &");
    expect(setup.code).toContain("https://api.openai.com/v1");
    const setupScript = `${setup.code
      .replace(/^npm start &.*$/m, "start_server")
      .replaceAll("https://api.openai.com/v1", `${fake.url}`)}
echo "HANDOVER_TOKEN=$AGENTGATE_TOKEN"`;
    const first = await bash(setupScript, env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const adminToken = /^HANDOVER_TOKEN=(\S+)$/m.exec(first.stdout)?.[1];
    expect(adminToken).toMatch(/^[0-9a-f]{48}$/);
    // `tokens create` prints the new key once. Lookarounds, not \b: a base64url key may end in
    // '-' (1 in 64), and \b would then cut it short (a 401 at the first call, seen in CI).
    const proxyKey = /(?<![\w-])(agk_[\w-]{20,})(?![\w-])/.exec(first.stdout)?.[1];
    expect(proxyKey, first.stdout).toBeDefined();

    const admin = { ...env, AGENTGATE_TOKEN: adminToken as string };

    // 2. The experiment: the fine-tune (v2) against base+optimized (v1), started.
    const started = await bash(experiment.code, admin);
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    expect(started.stdout).toContain("Created experiment 1 'ft-vs-base'");

    // 3. The agents' call, as the Python snippet makes it: the run lands in one arm.
    expect(agentCall.code).toContain('model="agent:support/coordinator"');
    expect(agentCall.code).toContain('"X-Session-Id": run_id');
    const runId = "run-readme-1";
    const client = new OpenAI({ baseURL: `${env.AGENTGATE_URL}/v1`, apiKey: proxyKey, maxRetries: 0 });
    const answer = await client.chat.completions
      .create(
        {
          model: "agent:support/coordinator",
          messages: [{ role: "user", content: "My order never arrived" }],
        },
        { headers: { "X-Session-Id": runId } },
      )
      .withResponse();
    const h = answer.response.headers;
    expect(h.get("x-agentgate-route")).toBe("experiment");
    expect(h.get("x-agentgate-experiment")).toBe("1");
    const arm = h.get("x-agentgate-arm");
    expect(["control", "finetuned"]).toContain(arm);
    // The arm's version reached the provider: v1 with its system prompt, or v2's fine-tuned model.
    const sent = fake.requests.at(-1)?.body as {
      model: string;
      messages: { role: string; content: string }[];
    };
    if (arm === "control") {
      expect(h.get("x-agentgate-version")).toBe("1");
      expect(sent.model).toBe("gpt-4o-mini");
      expect(sent.messages[0]).toEqual({ role: "system", content: "You are the support coordinator..." });
    } else {
      expect(h.get("x-agentgate-version")).toBe("2");
      expect(sent.model).toBe("ft:gpt-4o-mini:acme::abc123");
      expect(sent.messages[0]).toEqual({ role: "user", content: "My order never arrived" });
    }

    // 4. Feedback for the run, report (the run counted in its arm), promotion, rollback.
    const second = await bash(decide.code, { ...admin, RUN_ID: runId });
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Feedback 1: resolved = 1 for session run-readme-1.");
    // The report counts the run, its call and its outcome in the arm it was assigned.
    const other = arm === "control" ? "finetuned" : "control";
    expect(second.stdout).toMatch(new RegExp(`^${arm}\\s+50%\\s+1\\s+1\\s`, "m"));
    expect(second.stdout).toMatch(new RegExp(`^${other}\\s+50%\\s+0\\s+0\\s`, "m"));
    expect(second.stdout).toMatch(new RegExp(`^resolved \\(higher\\)\\s+${arm}\\s+1\\s+1 \\[`, "m"));
    expect(second.stdout).toContain("champion coordinator 1 -> 2");
    expect(second.stdout).toContain("support/coordinator: champion 2 -> 1");
  });
});
