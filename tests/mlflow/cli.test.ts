/**
 * `agentgate mlflow sync` through the real CLI against a real server configured with a real
 * MLflow: dry run, push, idempotent re-run, JSON output, argument errors, and one-line errors when
 * MLflow is unreachable or not configured.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MlflowClient, tagRecord } from "../../src/mlflow/client.js";
import type { SyncReport } from "../../src/mlflow/report.js";
import { expectOk, expectOneLineError, freePort, json, killAll, runCli } from "../cli/cli.js";
import { ADMIN_TOKEN, seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";
import { metricSum } from "../helpers/metrics.js";
import { type MlflowServer, startMlflowServer } from "./mlflow-server.js";

describe("agentgate mlflow sync", () => {
  let server: MlflowServer;
  let t: TestInstance;
  const cli = (...args: string[]) => runCli(args, { AGENTGATE_URL: t.url, AGENTGATE_TOKEN: ADMIN_TOKEN });

  beforeAll(async () => {
    // MLflow's own source check refuses one agent's model, to show a partial failure.
    server = await startMlflowServer({
      env: { MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX: "^(?!agentgate://fake/refused)" },
    });
    t = await startTestInstance("pglite", { MLFLOW_TRACKING_URI: server.url });
    await seedAgent(t, { system: "ops", agent: "triage", versions: 2 });
    await seedAgent(t, { system: "ops", agent: "summarize", versions: 1 });
  });
  afterAll(async () => {
    await killAll();
    await t?.close();
    await server?.stop();
  });

  it("dry run, then push, then nothing left to do", async () => {
    const dry = await cli("mlflow", "sync", "--system", "ops", "--direction", "push", "--dry-run");
    expectOk(dry);
    expect(dry.stdout).toMatch(
      new RegExp(`^Dry run \\(nothing changed\\): push with MLflow at ${server.url}, 2 agents$`, "m"),
    );
    expect(dry.stdout).toMatch(/^created 7, updated 0, deleted 0, unchanged 0, skipped 0, failed 0$/m);
    expect(dry.stdout).toMatch(/^ACTION\s+OBJECT\s+AGENT\s+VERSION\s+MLFLOW\s+DETAIL$/m);
    expect(dry.stdout).toMatch(/^created\s+registered_model\s+ops\/triage\s+-\s+ops\.triage\s+-$/m);

    const mlflow = new MlflowClient({ trackingUri: server.url });
    expect((await mlflow.searchRegisteredModels({ filter: "name LIKE 'ops.%'" })).items).toEqual([]);

    const pushed = await cli("--json", "mlflow", "sync", "--agent", "ops/triage");
    expectOk(pushed);
    const report = json<SyncReport>(pushed);
    expect(report).toMatchObject({ direction: "both", dry_run: false, agents: 1 });
    expect(report.summary).toMatchObject({ created: 4, failed: 0 });
    const v2 = await mlflow.getModelVersion("ops.triage", 2);
    expect(tagRecord(v2.tags)).toMatchObject({ "agentgate.version": "2", "agentgate.model": "model-2" });
    expect((await mlflow.getByAlias("ops.triage", "champion"))?.version).toBe("1");

    const rest = await cli("mlflow", "sync", "--system", "ops");
    expectOk(rest);
    expect(rest.stdout).toMatch(/^created 3, updated 0, deleted 0, unchanged 4, skipped 0, failed 0$/m);
    expect(rest.stdout).toMatch(/^created\s+alias\s+ops\/summarize\s+1\s+ops\.summarize@champion → 1\s+-$/m);
    expect(rest.stdout).not.toMatch(/^unchanged/m);

    const links = await cli("mlflow", "links", "--agent", "ops/triage");
    expectOk(links);
    expect(links.stdout).toMatch(/^AGENT\s+VERSION\s+MLFLOW\s+RUN\s+ORIGIN\s+SYNCED_AT$/m);
    expect(links.stdout).toMatch(/^ops\/triage\s+2\s+ops\.triage\/2\s+-\s+push\s+\d{4}-/m);

    const again = await cli("mlflow", "sync", "--system", "ops", "--all");
    expectOk(again);
    expect(again.stdout).toMatch(/^created 0, updated 0, deleted 0, unchanged 7, skipped 0, failed 0$/m);
    expect(again.stdout).toMatch(/^unchanged\s+model_version\s+ops\/triage\s+2\s+ops\.triage\/2\s+-$/m);
  });

  it("refuses bad arguments before any call (exit 2), in one line", async () => {
    const [noSystem, direction, mismatch] = await Promise.all([
      cli("mlflow", "sync", "--agent", "triage"),
      cli("mlflow", "sync", "--direction", "sideways"),
      cli("mlflow", "sync", "--system", "ops", "--agent", "shop/triage"),
    ]);
    expect(expectOneLineError(noSystem, 2)).toMatch(/--agent needs --system/);
    expect(expectOneLineError(direction, 2)).toMatch(/sideways/);
    expect(expectOneLineError(mismatch, 2)).toMatch(/is not in --system ops/);
    const unknown = await cli("mlflow", "sync", "--system", "nope");
    expect(expectOneLineError(unknown, 1)).toMatch(/system 'nope' not found \(system_not_found\)/);
  });

  it("MLflow unreachable, or not configured: one clear line, exit 1", async () => {
    const port = await freePort();
    const down = await startTestInstance("pglite", { MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}` });
    const none = await startTestInstance("pglite");
    try {
      await seedAgent(down, { system: "ops", agent: "triage", versions: 1 });
      const env = (i: TestInstance) => ({ AGENTGATE_URL: i.url, AGENTGATE_TOKEN: ADMIN_TOKEN });
      const [unreachable, unconfigured] = await Promise.all([
        runCli(["mlflow", "sync"], env(down)),
        runCli(["mlflow", "sync"], env(none)),
      ]);
      expect(expectOneLineError(unreachable, 1)).toBe(
        `agentgate: MLflow at http://127.0.0.1:${port} is not reachable (connection refused) (mlflow_unavailable)\n`,
      );
      expect(expectOneLineError(unconfigured, 1)).toBe(
        "agentgate: MLflow is not configured: set MLFLOW_TRACKING_URI on the server (mlflow_not_configured)\n",
      );
    } finally {
      await down.close();
      await none.close();
    }
  });

  it("an object MLflow refuses is a failed item with MLflow's code; the other agents are synced; exit 1", async () => {
    await seedAgent(t, { system: "refuse", agent: "ok", versions: 1 });
    await seedAgent(t, { system: "refuse", agent: "bad", versions: 0 });
    await t.http
      .post("/api/v1/systems/refuse/agents/bad/versions")
      .set("authorization", t.auth)
      .send({ kind: "fine_tuned", upstream: "fake", model: "refused-1" })
      .expect(201);
    const partial = () => metricSum(t.url, "agentgate_mlflow_syncs_total", { outcome: "partial" });
    const partialBefore = await partial();
    const r = await cli("mlflow", "sync", "--system", "refuse", "--direction", "push");
    expect(r.code).toBe(1);
    expect(await partial()).toBe(partialBefore + 1);
    expect(r.stderr).toBe("agentgate: 1 object(s) failed to sync (see the report)\n");
    expect(r.stdout).toMatch(/^created 4, updated 0, deleted 0, unchanged 0, skipped 1, failed 1$/m);
    expect(r.stdout).toMatch(
      /^failed\s+model_version\s+refuse\/bad\s+1\s+refuse\.bad\s+INVALID_PARAMETER_VALUE: Invalid model version source: 'agentgate:\/\/fake\/refused-1'\.$/m,
    );
    // Its champion alias has nothing to point at.
    expect(r.stdout).toMatch(
      /^skipped\s+alias\s+refuse\/bad\s+1\s+refuse\.bad@champion\s+version 1 has no model version \(it failed above\)$/m,
    );
    const mlflow = new MlflowClient({ trackingUri: server.url });
    expect((await mlflow.getByAlias("refuse.ok", "champion"))?.version).toBe("1");
  });

  it("the periodic sync (AGENTGATE_MLFLOW_SYNC_INTERVAL_MS) mirrors without being asked", async () => {
    const ticking = await startTestInstance("pglite", {
      MLFLOW_TRACKING_URI: server.url,
      AGENTGATE_MLFLOW_SYNC_INTERVAL_MS: "1000",
    });
    try {
      await seedAgent(ticking, { system: "tick", agent: "agent", versions: 1 });
      const mlflow = new MlflowClient({ trackingUri: server.url });
      const deadline = Date.now() + 60_000;
      let champion: string | null = null;
      while (champion === null && Date.now() < deadline) {
        champion = (await mlflow.getByAlias("tick.agent", "champion").catch(() => null))?.version ?? null;
        if (champion === null) await new Promise((r) => setTimeout(r, 500));
      }
      expect(champion).toBe("1");
      // The alias is set during the sync; its audit entry is written when the sync has finished.
      await expect
        .poll(
          async () =>
            (await ticking.gw.dbHandle.db("audit_log").where({ action: "mlflow.sync" }).first("actor"))
              ?.actor,
          { timeout: 10_000 },
        )
        .toBe("mlflow-sync");
    } finally {
      await ticking.close();
    }
  });
});
