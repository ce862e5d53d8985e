/**
 * The server's Node flags (src/node-flags.ts) are on the launch paths that start node themselves,
 * and a server started without them says so in its log, with the NODE_OPTIONS that fixes it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyRuntimeV8Flags, missingNodeFlags, SERVER_NODE_FLAGS } from "../../src/node-flags.js";
import { freePort, REPO_ROOT, spawnTsx } from "../helpers/gateway-process.js";
import { waitForHealthy } from "./cli.js";

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

  it("leaves a runtime V8 flag given on the command line as the operator chose it", () => {
    expect(applyRuntimeV8Flags(["--heap-growing-percent=50"])).toEqual([]);
    expect(applyRuntimeV8Flags(["--heap_growing_percent=0", "--max-semi-space-size=32"])).toEqual([]);
  });

  it("are on every launch path that starts node itself: npm start and dev, the Dockerfile", () => {
    // The executable's own #! line stays plain: `env -S` is not everywhere (BusyBox).
    expect(read("src/cli/index.ts").split("\n", 1)[0]).toBe("#!/usr/bin/env node");
    const scripts = JSON.parse(read("package.json")).scripts as Record<string, string>;
    expect(scripts.start).toBe(`node ${SERVER_NODE_FLAGS.join(" ")} dist/src/cli/index.js serve`);
    expect(scripts.dev).toBe(`tsx ${SERVER_NODE_FLAGS.join(" ")} src/cli/index.ts serve`);
    // The Dockerfile's CMD: tests/observability/deploy.test.ts.
  });

  it("a server started without them logs a warning naming them; with them, it does not", {
    timeout: 90_000,
  }, async () => {
    const start = async (name: string, nodeArgs: readonly string[], env: Record<string, string> = {}) => {
      const port = await freePort();
      const run = spawnTsx(
        "src/cli/index.ts",
        { PORT: String(port), AGENTGATE_DATA_DIR: path.join(tmp, name), AGENTGATE_LOG_LEVEL: "info", ...env },
        undefined,
        ["serve"],
        nodeArgs,
      );
      // The check runs as soon as the server listens, before it can answer /healthz.
      await waitForHealthy(`http://127.0.0.1:${port}`, run);
      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      return run
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map(
          (l) =>
            JSON.parse(l) as {
              level: number;
              msg: string;
              missing?: string[];
              fix?: string;
              v8Flags?: string[];
            },
        );
    };
    const fix = `NODE_OPTIONS='${SERVER_NODE_FLAGS.join(" ")}'`;
    const [without, withFlags, withOptions] = await Promise.all([
      start("without", []),
      start("with", [...SERVER_NODE_FLAGS, "--heap-growing-percent=50"]),
      start("options", [], { NODE_OPTIONS: SERVER_NODE_FLAGS.join(" ") }),
    ]);
    const warning = (lines: { msg: string }[]) =>
      lines.filter((l) => l.msg.includes("without agentgate's flags"));
    expect(without.some((l) => l.msg === "agentgate listening")).toBe(true);
    expect(warning(without)).toEqual([
      expect.objectContaining({
        level: 40,
        missing: [...SERVER_NODE_FLAGS],
        fix,
      }),
    ]);
    // Started with them, on the command line or through the warning's NODE_OPTIONS: no warning.
    for (const lines of [withFlags, withOptions]) {
      expect(lines.some((l) => l.msg === "agentgate listening")).toBe(true);
      expect(warning(lines)).toEqual([]);
    }
    // The runtime V8 flag is set from inside, unless the command line gave it a value.
    const setFlags = (lines: { msg: string; v8Flags?: string[] }[]) =>
      lines.filter((l) => l.msg.startsWith("V8 flags set")).map((l) => l.v8Flags);
    expect(setFlags(without)).toEqual([["--heap-growing-percent=200"]]);
    expect(setFlags(withOptions)).toEqual([["--heap-growing-percent=200"]]);
    expect(setFlags(withFlags)).toEqual([]);
  });
});
