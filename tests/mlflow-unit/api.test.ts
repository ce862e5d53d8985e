/**
 * `POST /api/v1/mlflow/sync` where no MLflow server is needed, on PGlite and PostgreSQL: not
 * configured, MLflow unreachable, bad requests, unknown scope, a sync already running. Also the
 * MLflow settings of the configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { freePort } from "../cli/cli.js";
import { expectError } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";
import { metricSum } from "../helpers/metrics.js";

describe.each(backends())("POST /api/v1/mlflow/sync without a reachable MLflow (%s)", (backend) => {
  let t: TestInstance;
  let none: TestInstance;
  let port: number;
  const sync = (i: TestInstance, body: unknown) =>
    i.http
      .post("/api/v1/mlflow/sync")
      .set("authorization", i.auth)
      .send(body as object);
  const audits = async (i: TestInstance) =>
    Number(
      (
        await i.gw.dbHandle
          .db("audit_log")
          .where({ action: "mlflow.sync" })
          .count<{ n: number }[]>({ n: "*" })
      )[0]?.n,
    );

  const syncs = (i: TestInstance, outcome: string) =>
    metricSum(i.url, "agentgate_mlflow_syncs_total", { outcome });

  beforeAll(async () => {
    port = await freePort();
    [t, none] = await Promise.all([
      startTestInstance(backend, { MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}/` }),
      startTestInstance(backend),
    ]);
    await seedAgent(t, { system: "support", agent: "coordinator", versions: 1 });
  });
  afterAll(async () => {
    await Promise.all([t?.close(), none?.close()]);
  });

  it("not configured: 409 mlflow_not_configured", async () => {
    expectError(await sync(none, {}), 409, "mlflow_not_configured", {
      message: "MLflow is not configured: set MLFLOW_TRACKING_URI on the server",
    });
  });

  it("MLflow unreachable: 502 mlflow_unavailable naming the server; nothing audited; the lease is released", async () => {
    const before = await syncs(t, "error");
    for (let i = 0; i < 2; i++) {
      expectError(await sync(t, { system: "support" }), 502, "mlflow_unavailable", {
        message: `MLflow at http://127.0.0.1:${port} is not reachable (connection refused)`,
      });
    }
    expect(await audits(t)).toBe(0);
    expect(await t.gw.dbHandle.db("mlflow_sync_lock").select()).toEqual([]);
    // Counted as syncs that stopped; nothing succeeded.
    expect(await syncs(t, "error")).toBe(before + 2);
    expect(await syncs(t, "ok")).toBe(0);
    expect(await metricSum(t.url, "agentgate_mlflow_last_success_timestamp_seconds")).toBe(0);
  });

  it("bad requests: 400 naming the field", async () => {
    expectError(await sync(t, { direction: "sideways" }), 400, "invalid_request", { param: "direction" });
    expectError(await sync(t, { agent: "coordinator" }), 400, "invalid_request", {
      param: "agent",
      message: "agent: agent needs system",
    });
    expectError(await sync(t, { dry_run: "yes" }), 400, "invalid_request", { param: "dry_run" });
    expectError(await sync(t, { system: "Bad Name" }), 400, "invalid_request", { param: "system" });
    expectError(await sync(t, { extra: 1 }), 400, "invalid_request");
  });

  it("an unknown system or agent: 404, before MLflow is asked", async () => {
    expectError(await sync(t, { system: "nope" }), 404, "system_not_found");
    expectError(await sync(t, { system: "support", agent: "nope" }), 404, "agent_not_found");
  });

  it("a sync already running: 409 mlflow_sync_running; an expired lease is taken over; a dry run takes none", async () => {
    const { db } = t.gw.dbHandle;
    await db("mlflow_sync_lock").insert({
      id: 1,
      holder: "other",
      expires_at: db.raw("now() + interval '5 minutes'"),
    });
    const [busy, errors] = [await syncs(t, "busy"), await syncs(t, "error")];
    expectError(await sync(t, {}), 409, "mlflow_sync_running");
    expect(await syncs(t, "busy")).toBe(busy + 1);
    // A dry run writes nothing, so it does not wait for the lease (and then finds MLflow down).
    expectError(await sync(t, { dry_run: true }), 502, "mlflow_unavailable");
    await db("mlflow_sync_lock").update({ expires_at: db.raw("now() - interval '1 second'") });
    expectError(await sync(t, {}), 502, "mlflow_unavailable");
    expect(await db("mlflow_sync_lock").select()).toEqual([]);
    // The dry run is not a sync: only the last call counts.
    expect(await syncs(t, "error")).toBe(errors + 1);
  });

  it("the periodic sync logs and survives an unreachable MLflow", async () => {
    await expect(t.gw.mlflowScheduler.run()).resolves.toBeNull();
  });
});

describe("MLflow configuration", () => {
  const error = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("accepted");
  };

  it("is off by default; on with MLFLOW_TRACKING_URI, with its credentials and settings", () => {
    expect(loadConfig({}).mlflow).toBeUndefined();
    expect(
      loadConfig({
        MLFLOW_TRACKING_URI: "https://mlflow.internal/prefix",
        MLFLOW_TRACKING_USERNAME: "svc",
        MLFLOW_TRACKING_PASSWORD: "pw",
        AGENTGATE_MLFLOW_TIMEOUT_MS: "5000",
        AGENTGATE_MLFLOW_SYNC_INTERVAL_MS: "60000",
      }).mlflow,
    ).toEqual({
      trackingUri: "https://mlflow.internal/prefix",
      token: undefined,
      username: "svc",
      password: "pw",
      timeoutMs: 5000,
      syncIntervalMs: 60000,
    });
    expect(loadConfig({ MLFLOW_TRACKING_URI: "http://127.0.0.1:5000" }).mlflow).toMatchObject({
      timeoutMs: 30_000,
      syncIntervalMs: 0,
    });
  });

  it("refuses what agentgate cannot use, naming the variable", () => {
    expect(error({ MLFLOW_TRACKING_URI: "file:///tmp/mlruns" })).toMatch(
      /^invalid configuration: MLFLOW_TRACKING_URI must be the http\(s\) URL/,
    );
    expect(error({ MLFLOW_TRACKING_URI: "databricks" })).toMatch(/MLFLOW_TRACKING_URI must be/);
    expect(error({ MLFLOW_TRACKING_URI: "http://u:p@mlflow:5000" })).toMatch(
      /MLFLOW_TRACKING_URI must not contain credentials/,
    );
    expect(error({ MLFLOW_TRACKING_URI: "http://mlflow:5000", MLFLOW_TRACKING_USERNAME: "u" })).toMatch(
      /MLFLOW_TRACKING_PASSWORD must be set too/,
    );
    expect(error({ AGENTGATE_MLFLOW_SYNC_INTERVAL_MS: "60000" })).toMatch(
      /AGENTGATE_MLFLOW_SYNC_INTERVAL_MS needs MLFLOW_TRACKING_URI/,
    );
    expect(
      error({ MLFLOW_TRACKING_URI: "http://mlflow:5000", AGENTGATE_MLFLOW_SYNC_INTERVAL_MS: "10" }),
    ).toMatch(/AGENTGATE_MLFLOW_SYNC_INTERVAL_MS must be 0 \(off\) or at least 1000/);
    expect(error({ MLFLOW_TRACKING_URI: "http://mlflow:5000", AGENTGATE_MLFLOW_TIMEOUT_MS: "5" })).toMatch(
      /AGENTGATE_MLFLOW_TIMEOUT_MS must be at least 100/,
    );
  });
});
