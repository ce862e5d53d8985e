/**
 * `agentgate serve` and `agentgate migrate` as real processes on the embedded database: config
 * errors, a graceful stop on SIGTERM, data kept across restarts, and migrations.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { freePort, json, killAll, runCli, spawnCli, stop, waitForHealthy } from "./cli.js";

// Concurrent: each test has its own data directory and port, and most of the time goes to
// embedded-database start-up in child processes.
describe.concurrent("agentgate serve and migrate", () => {
  let tmp: string;
  const dataDir = (name: string) => path.join(tmp, name);

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-serve-"));
  });
  afterAll(async () => {
    await killAll();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each([
    ["PORT", "abc", /^agentgate: invalid configuration: PORT must be a number\n$/],
    ["DATABASE_URL", "not-a-url", /^agentgate: invalid configuration: DATABASE_URL must be a postgres/],
  ])("refuses %s=%s with one line and exit code 2", async (variable, value, expected) => {
    const r = await runCli(["serve"], { [variable]: value, AGENTGATE_DATA_DIR: dataDir("unused") });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(expected);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe("");
  });

  it("serves the embedded database, stops on SIGTERM with 0 and keeps data across restarts", {
    timeout: 90_000,
  }, async ({ onTestFinished }) => {
    const dir = dataDir("persist");
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const client = { AGENTGATE_URL: url, AGENTGATE_TOKEN: ADMIN_TOKEN };

    const first = spawnCli(["serve"], {
      PORT: String(port),
      AGENTGATE_DATA_DIR: dir,
      AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    onTestFinished(() => stop(first));
    await waitForHealthy(url, first);
    const created = await runCli(["systems", "create", "persisted", "--topology", "sequential"], client);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);

    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stderr()).toBe("");

    // Second start: the flag overrides an invalid PORT in the environment.
    const second = spawnCli(["serve", "--port", String(port)], {
      PORT: "abc",
      AGENTGATE_DATA_DIR: dir,
      AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    onTestFinished(() => stop(second));
    await waitForHealthy(url, second);
    const shown = await runCli(["systems", "show", "persisted", "--json"], client);
    expect(shown.code).toBe(0);
    expect(json(shown)).toMatchObject({ name: "persisted", topology: "sequential" });

    second.child.kill("SIGINT");
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  it("fails to start with one line and exit 1 when the port is taken", { timeout: 90_000 }, async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = holder.address() as net.AddressInfo;
      const r = await runCli(["serve"], { PORT: String(port), AGENTGATE_DATA_DIR: dataDir("taken") });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^agentgate: cannot start: .*EADDRINUSE.*\n$/);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("migrates a fresh data directory, then finds nothing left to apply", { timeout: 90_000 }, async () => {
    const dir = dataDir("migrate");
    let r = await runCli(["migrate"], { AGENTGATE_DATA_DIR: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Applied \d+ migrations? to embedded PGlite in .*migrate:$/m);
    expect(r.stdout).toMatch(/^ {2}20261125140000_registry$/m);

    r = await runCli(["migrate", "--json"], { AGENTGATE_DATA_DIR: dir });
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ database: `embedded PGlite in ${dir}`, applied: [] });
  });
});
