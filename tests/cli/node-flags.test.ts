/**
 * The server's Node flags (src/node-flags.ts) reach every way of starting it, and a server started
 * without them says so in its log.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { missingNodeFlags, SERVER_NODE_FLAGS } from "../../src/node-flags.js";
import { freePort, REPO_ROOT, spawnTsx } from "../helpers/gateway-process.js";

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), "utf8");
const tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-node-flags-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the server's Node flags", () => {
  it("tells which flags a process lacks, from its command line and NODE_OPTIONS", () => {
    expect(missingNodeFlags([], "")).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingNodeFlags(["--import", "tsx"], "--enable-source-maps")).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingNodeFlags([...SERVER_NODE_FLAGS], "")).toEqual([]);
    expect(missingNodeFlags([], SERVER_NODE_FLAGS.join(" "))).toEqual([]);
    // Another value is the operator's choice; V8 spells its flags with underscores too.
    expect(missingNodeFlags(["--max-semi-space-size=64"], "")).toEqual([]);
    expect(missingNodeFlags([], "--max_semi_space_size=16")).toEqual([]);
  });

  it("are on every launch path: the executable's #! line, npm start and dev, the Dockerfile", () => {
    const shebang = read("src/cli/index.ts").split("\n", 1)[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(" ")}`);
    const scripts = JSON.parse(read("package.json")).scripts as Record<string, string>;
    expect(scripts.start).toBe(`node ${SERVER_NODE_FLAGS.join(" ")} dist/src/cli/index.js serve`);
    expect(scripts.dev).toBe(`tsx ${SERVER_NODE_FLAGS.join(" ")} src/cli/index.ts serve`);
    const cmd = read("Dockerfile")
      .split("\n")
      .find((l) => l.startsWith("CMD "));
    expect(JSON.parse((cmd as string).slice(4))).toEqual([
      "node",
      ...SERVER_NODE_FLAGS,
      "dist/src/cli/index.js",
      "serve",
    ]);
  });

  it("reach the process through the #! line (env -S splits it)", () => {
    // The executable's own first line on a script that prints what node was started with.
    const script = path.join(tmp, "argv.js");
    writeFileSync(
      script,
      `${read("src/cli/index.ts").split("\n", 1)[0]}\nprocess.stdout.write(JSON.stringify(process.execArgv));\n`,
    );
    chmodSync(script, 0o755);
    const execArgv = JSON.parse(execFileSync(script, { encoding: "utf8" })) as string[];
    expect(execArgv).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingNodeFlags(execArgv, "")).toEqual([]);
  });

  it("a server started without them logs a warning naming them; with them, it does not", {
    timeout: 90_000,
  }, async () => {
    const start = async (name: string, nodeArgs: readonly string[]) => {
      const port = await freePort();
      const run = spawnTsx(
        "src/cli/index.ts",
        { PORT: String(port), AGENTGATE_DATA_DIR: path.join(tmp, name), AGENTGATE_LOG_LEVEL: "info" },
        undefined,
        ["serve"],
        nodeArgs,
      );
      // "agentgate listening" comes just before the check; SIGTERM then stops it gracefully.
      for (let i = 0; i < 600 && !run.stdout().includes("agentgate listening"); i++) {
        if (run.child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 200));
      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      return run
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { level: number; msg: string; missing?: string[] });
    };
    const [without, withFlags] = await Promise.all([start("without", []), start("with", SERVER_NODE_FLAGS)]);
    const warning = (lines: { msg: string }[]) =>
      lines.filter((l) => l.msg.includes("without agentgate's flags"));
    expect(without.some((l) => l.msg === "agentgate listening")).toBe(true);
    expect(warning(without)).toEqual([
      expect.objectContaining({ level: 40, missing: [...SERVER_NODE_FLAGS] }),
    ]);
    expect(withFlags.some((l) => l.msg === "agentgate listening")).toBe(true);
    expect(warning(withFlags)).toEqual([]);
  });
});
