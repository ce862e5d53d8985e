/** Environment → config: defaults, and a `ConfigError` naming the variable for each bad value. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { defaultEventBatchSize, defaultEventFlushMs } from "../../src/events/recorder.js";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("has documented defaults", () => {
    expect(loadConfig({})).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      databaseUrl: undefined,
      dataDir: path.resolve("./data"),
      adminToken: undefined,
      proxyAuth: true,
      logLevel: "info",
      maxBodyBytes: 10 * 1024 * 1024,
      eventFlushMs: undefined,
      pglitePriority: "idle",
    });
    // Unset, the event batches wait by storage: the embedded database's statements cost more.
    expect([defaultEventFlushMs("postgres"), defaultEventFlushMs("pglite")]).toEqual([100, 500]);
    expect([defaultEventBatchSize("postgres"), defaultEventBatchSize("pglite")]).toEqual([250, 500]);
  });

  it("reads valid values", () => {
    const c = loadConfig({
      PORT: "9000",
      HOST: "0.0.0.0",
      DATABASE_URL: "postgresql://agentgate:pw@db.internal:5433/agentgate",
      AGENTGATE_DATA_DIR: "/var/lib/agentgate",
      AGENTGATE_ADMIN_TOKEN: "0123456789abcdef",
      AGENTGATE_PROXY_AUTH: "off",
      AGENTGATE_LOG_LEVEL: "debug",
    });
    expect(c).toMatchObject({
      port: 9000,
      host: "0.0.0.0",
      databaseUrl: "postgresql://agentgate:pw@db.internal:5433/agentgate",
      dataDir: "/var/lib/agentgate",
      adminToken: "0123456789abcdef",
      proxyAuth: false,
      logLevel: "debug",
    });
    expect(loadConfig({ PORT: "0" }).port).toBe(0);
    expect(loadConfig({ AGENTGATE_EVENT_FLUSH_MS: "250" }).eventFlushMs).toBe(250);
    expect(loadConfig({}).pglitePriority).toBe("idle");
    expect(loadConfig({ AGENTGATE_PGLITE_NICE: "idle" }).pglitePriority).toBe("idle");
    expect(loadConfig({ AGENTGATE_PGLITE_NICE: "0" }).pglitePriority).toBe(0);
    expect(loadConfig({ AGENTGATE_PGLITE_NICE: "5" }).pglitePriority).toBe(5);
    expect(loadConfig({ AGENTGATE_PROXY_AUTH: "on" }).proxyAuth).toBe(true);
  });

  it("treats empty strings as unset", () => {
    const c = loadConfig({ PORT: "", DATABASE_URL: "", AGENTGATE_ADMIN_TOKEN: "", AGENTGATE_PROXY_AUTH: "" });
    expect(c).toMatchObject({ port: 8080, databaseUrl: undefined, adminToken: undefined, proxyAuth: true });
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["DATABASE_URL", "not a url"],
    ["DATABASE_URL", "mysql://db:3306/agentgate"],
    ["DATABASE_URL", "postgres://"],
    ["DATABASE_URL", "localhost:5432/agentgate"],
    ["AGENTGATE_PROXY_AUTH", "maybe"],
    ["AGENTGATE_PROXY_AUTH", "true"],
    ["AGENTGATE_ADMIN_TOKEN", "short"],
    ["AGENTGATE_ADMIN_TOKEN", "0123456789abcde"],
    ["AGENTGATE_LOG_LEVEL", "verbose"],
    ["AGENTGATE_MAX_BODY_BYTES", "12"],
    ["AGENTGATE_EVENT_FLUSH_MS", "0"],
    ["AGENTGATE_EVENT_FLUSH_MS", "20000"],
    ["AGENTGATE_EVENT_FLUSH_MS", "2.5"],
    ["AGENTGATE_PGLITE_NICE", "-1"],
    ["AGENTGATE_PGLITE_NICE", "20"],
    ["AGENTGATE_PGLITE_NICE", "low"],
    ["AGENTGATE_PGLITE_NICE", "2.5"],
  ])("%s=%s stops the start with an error naming the variable", (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
    expect(err.message).toMatch(/^invalid configuration: /);
    expect(err.name).toBe("ConfigError");
  });

  it("names the bad variable, not a good one next to it", () => {
    const err = configError({ PORT: "8081", HOST: "::1", AGENTGATE_PROXY_AUTH: "maybe" });
    expect(err.variable).toBe("AGENTGATE_PROXY_AUTH");
    expect(err.message).toContain("'on' or 'off'");
  });

  it("never puts a database password in its message", () => {
    const err = configError({ DATABASE_URL: "mysql://user:hunter2-secret@db/x" });
    expect(err.message).not.toContain("hunter2-secret");
  });
});
