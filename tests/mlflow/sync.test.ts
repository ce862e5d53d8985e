/**
 * `POST /api/v1/mlflow/sync` against a real MLflow server, with agentgate on PGlite and on
 * PostgreSQL: push mirrors a system (registered models, versions, tags, aliases), moving the
 * champion or starting an experiment moves the aliases, pull imports versions registered in MLflow
 * (through the REST client and through MLflow's own Python client, with a run), re-running changes
 * nothing, a dry run changes nothing, and every outcome is in the report.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MlflowClient, type ModelVersion, tagRecord } from "../../src/mlflow/client.js";
import { allOf } from "../../src/mlflow/filter.js";
import type { SyncItem, SyncReport } from "../../src/mlflow/report.js";
import { backends } from "../helpers/databases.js";
import { startTestInstance, type TestInstance } from "../helpers/instance.js";
import { metricSum } from "../helpers/metrics.js";
import { type MlflowServer, runPython, startMlflowServer } from "./mlflow-server.js";

let server: MlflowServer;
let mlflow: MlflowClient;

beforeAll(async () => {
  server = await startMlflowServer();
  mlflow = new MlflowClient({ trackingUri: server.url, timeoutMs: 20_000 });
});
afterAll(async () => {
  await server?.stop();
});

const pick = (r: SyncReport, f: Partial<SyncItem>) =>
  r.items.filter((i) => Object.entries(f).every(([k, v]) => i[k as keyof SyncItem] === v));
const versionsOf = (model: string) =>
  mlflow.searchAllModelVersions({ filter: allOf([["name", model]]), orderBy: ["version_number ASC"] });
const aliasOf = async (model: string, alias: string) =>
  (await mlflow.getByAlias(model, alias))?.version ?? null;

describe.each(backends())("MLflow sync on %s", (backend) => {
  let t: TestInstance;
  const sys = `shop-${backend}`;
  const model = (agent: string) => `${sys}.${agent}`;

  async function api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    status = 200,
  ) {
    const res = await t.http[method.toLowerCase() as "post"](`/api/v1${path}`)
      .set("authorization", t.auth)
      .send(body as object);
    expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
    return res.body as T;
  }
  const sync = (body: Record<string, unknown>) => api<SyncReport>("POST", "/mlflow/sync", body);
  const version = (agent: string, body: Record<string, unknown>) =>
    api<{ version: number }>("POST", `/systems/${sys}/agents/${agent}/versions`, body, 201);

  beforeAll(async () => {
    t = await startTestInstance(backend, { MLFLOW_TRACKING_URI: server.url });
    await api("POST", "/upstreams", { name: "openai", base_url: "http://127.0.0.1:9/v1" }, 201);
    await api("POST", "/upstreams", { name: "vllm", base_url: "http://127.0.0.1:9/v1" }, 201);
    await api("POST", "/systems", { name: sys, topology: "hierarchical" }, 201);
    for (const agent of ["planner", "writer", "critic"])
      await api("POST", `/systems/${sys}/agents`, { name: agent, role: `the ${agent}` }, 201);
    await version("planner", {
      kind: "base_optimized",
      upstream: "openai",
      model: "gpt-4o-mini",
      prompt: { system: "Plan." },
    });
    await version("planner", {
      kind: "fine_tuned",
      upstream: "openai",
      model: "ft:gpt-4o-mini:org::abc",
      lineage: { parent_version: 1, base_model: "gpt-4o-mini", dataset: "ds-7", fine_tune_job: "ftjob-1" },
      training_cost_usd: 12.5,
    });
    await version("planner", {
      kind: "fine_tuned",
      upstream: "vllm",
      model: "meta-llama/Llama-3.1-8B:planner-lora",
    });
    await version("writer", { kind: "base_optimized", upstream: "openai", model: "gpt-4o-mini" });
    await version("critic", { kind: "base_optimized", upstream: "openai", model: "gpt-4o-mini" });
    await version("critic", { kind: "fine_tuned", upstream: "vllm", model: "critic-lora" });
    await api("PUT", `/systems/${sys}/agents/planner/aliases/champion`, { version: 2 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a dry run reports what a push would create and changes nothing", async () => {
    const auditBefore = await t.gw.dbHandle.db("audit_log").count<{ n: number }[]>({ n: "*" });
    const r = await sync({ system: sys, direction: "push", dry_run: true });
    expect(r).toMatchObject({ dry_run: true, direction: "push", agents: 3, mlflow_uri: server.url });
    expect(r.summary).toMatchObject({ created: 3 + 6 + 3, updated: 0, failed: 0 });
    expect(
      pick(r, { object: "model_version", action: "created" }).every((i) => i.mlflow_version === null),
    ).toBe(true);
    expect((await mlflow.searchRegisteredModels({ filter: `name LIKE '${sys}.%'` })).items).toEqual([]);
    expect(Number((await t.gw.dbHandle.db("mlflow_links").count<{ n: number }[]>({ n: "*" }))[0]?.n)).toBe(0);
    expect(await t.gw.dbHandle.db("audit_log").count<{ n: number }[]>({ n: "*" })).toEqual(auditBefore);
  });

  it("push mirrors every agent: registered models, versions with tags, champion aliases, links, audit", async () => {
    const r = await sync({ system: sys, direction: "push" });
    expect(r.summary).toEqual({ created: 12, updated: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0 });
    expect(pick(r, { object: "registered_model", action: "created" }).map((i) => i.mlflow_model)).toEqual([
      model("critic"),
      model("planner"),
      model("writer"),
    ]);

    const rm = await mlflow.getRegisteredModel(model("planner"));
    expect(tagRecord(rm.tags)).toEqual({ "agentgate.system": sys, "agentgate.agent": "planner" });
    expect(rm.description).toBe("the planner");
    const mvs = await versionsOf(model("planner"));
    expect(mvs.map((v) => tagRecord(v.tags)["agentgate.version"])).toEqual(["1", "2", "3"]);
    expect(tagRecord((mvs[1] as ModelVersion).tags)).toEqual({
      "agentgate.system": sys,
      "agentgate.agent": "planner",
      "agentgate.version": "2",
      "agentgate.kind": "fine_tuned",
      "agentgate.upstream": "openai",
      "agentgate.model": "ft:gpt-4o-mini:org::abc",
      "agentgate.base_model": "gpt-4o-mini",
      "agentgate.dataset": "ds-7",
      "agentgate.fine_tune_job": "ftjob-1",
      "agentgate.parent_version": "1",
      "agentgate.training_cost_usd": "12.5",
    });
    expect(mvs.map((v) => v.source)).toEqual([
      "agentgate://openai/gpt-4o-mini",
      "agentgate://openai/ft:gpt-4o-mini:org::abc",
      "agentgate://vllm/meta-llama/Llama-3.1-8B:planner-lora",
    ]);
    expect(await aliasOf(model("planner"), "champion")).toBe("2");
    expect(await aliasOf(model("critic"), "champion")).toBe("1");
    expect(await aliasOf(model("planner"), "challenger")).toBeNull();

    const links = await t.gw.dbHandle
      .db("mlflow_links as l")
      .join("versions as v", "v.id", "l.version_id")
      .orderBy(["l.registered_model", "v.number"])
      .select("l.registered_model", "l.model_version", "v.number", "l.origin");
    expect(links).toHaveLength(6);
    expect(links.every((l) => l.origin === "push" && l.model_version === String(l.number))).toBe(true);

    const audit = await api<{
      data: { action: string; actor: string; object_key: string; after: unknown }[];
    }>("GET", "/audit?action=mlflow.sync");
    expect(audit.data[0]).toMatchObject({
      action: "mlflow.sync",
      actor: "bootstrap-admin",
      object_key: `${sys}/`,
      after: { direction: "push", summary: { created: 12 } },
    });
  });

  it("re-running changes nothing", async () => {
    const before = await versionsOf(model("planner"));
    const r = await sync({ system: sys });
    expect(r.summary).toEqual({ created: 0, updated: 0, deleted: 0, unchanged: 12, skipped: 0, failed: 0 });
    expect(await versionsOf(model("planner"))).toEqual(before);
    // Two syncs so far (the dry run is not one), their objects by action, and the clean one's time.
    const value = (name: string, labels?: Record<string, string>) => metricSum(t.url, name, labels);
    expect(await value("agentgate_mlflow_syncs_total", { outcome: "ok" })).toBe(2);
    expect(await value("agentgate_mlflow_sync_items_total", { action: "created" })).toBe(12);
    expect(await value("agentgate_mlflow_sync_items_total", { action: "unchanged" })).toBe(12);
    const last = await value("agentgate_mlflow_last_success_timestamp_seconds");
    expect(Math.abs(last - Date.parse(r.finished_at) / 1000)).toBeLessThan(0.001);
  });

  it("moving the champion and starting an experiment move the aliases; stopping it removes the challenger", async () => {
    await api("PUT", `/systems/${sys}/agents/planner/aliases/champion`, { version: 3 });
    const exp = await api<{ id: number }>(
      "POST",
      "/experiments",
      {
        name: `planner-ab-${backend}`,
        system: sys,
        agent: "planner",
        arms: [
          { name: "control", weight: 1, versions: { planner: 3 } },
          { name: "treatment", weight: 1, versions: { planner: 1 } },
        ],
      },
      201,
    );
    await api("POST", `/experiments/${exp.id}/start`);
    const r = await sync({ system: sys, agent: "planner", direction: "push" });
    expect(r.agents).toBe(1);
    expect(pick(r, { object: "alias" })).toEqual([
      expect.objectContaining({
        alias: "champion",
        action: "updated",
        version: 3,
        mlflow_version: "3",
        detail: "moved from MLflow version 2",
      }),
      expect.objectContaining({ alias: "challenger", action: "created", version: 1, mlflow_version: "1" }),
    ]);
    expect(r.summary).toMatchObject({ created: 1, updated: 1, deleted: 0, failed: 0 });
    expect(await aliasOf(model("planner"), "champion")).toBe("3");
    expect(await aliasOf(model("planner"), "challenger")).toBe("1");
    // Aliases agentgate does not manage are left alone.
    await mlflow.setAlias(model("planner"), "staging", "2");

    await api("POST", `/experiments/${exp.id}/stop`, {});
    const after = await sync({ system: sys, agent: "planner" });
    expect(pick(after, { object: "alias", action: "deleted" })).toEqual([
      expect.objectContaining({ alias: "challenger", detail: "was on MLflow version 1" }),
    ]);
    expect(await aliasOf(model("planner"), "challenger")).toBeNull();
    expect(await aliasOf(model("planner"), "staging")).toBe("2");
  });

  it("pull imports a version a pipeline registered in MLflow; versions without enough information are skipped with the reason", async () => {
    const name = model("writer");
    const run = "0123456789abcdef0123456789abcdef";
    const imported = await mlflow.createModelVersion({
      name,
      source: "s3://models/writer/lora-7",
      runId: run,
      tags: [
        { key: "agentgate.upstream", value: "vllm" },
        { key: "agentgate.model", value: "writer-lora-7" },
        { key: "agentgate.base_model", value: "meta-llama/Llama-3.1-8B" },
        { key: "agentgate.dataset", value: "ds-9" },
        { key: "agentgate.training_cost_usd", value: "3.25" },
      ],
    });
    const bare = await mlflow.createModelVersion({ name, source: "s3://models/writer/unknown" });
    const elsewhere = await mlflow.createModelVersion({ name, source: "agentgate://together/writer-x" });
    const badKind = await mlflow.createModelVersion({
      name,
      source: "agentgate://vllm/writer-y",
      tags: [{ key: "agentgate.kind", value: "distilled" }],
    });

    const r = await sync({ system: sys, agent: "writer", direction: "pull" });
    expect(pick(r, { object: "agentgate_version" })).toEqual([
      expect.objectContaining({
        action: "created",
        version: 2,
        mlflow_version: imported.version,
        detail: "fine_tuned vllm/writer-lora-7",
      }),
    ]);
    const skipped = pick(r, { action: "skipped" });
    expect(skipped.map((i) => i.mlflow_version)).toEqual([bare.version, elsewhere.version, badKind.version]);
    expect(skipped[0]?.detail).toMatch(/agentgate\.upstream and agentgate\.model tags/);
    expect(skipped[1]?.detail).toBe("upstream 'together' is not registered in agentgate");
    expect(skipped[2]?.detail).toMatch(
      /agentgate\.kind 'distilled' is not one of base_optimized, fine_tuned/,
    );

    const v = await api<Record<string, unknown>>("GET", `/systems/${sys}/agents/writer/versions/2`);
    expect(v).toMatchObject({
      kind: "fine_tuned",
      upstream: "vllm",
      model: "writer-lora-7",
      training_cost_usd: 3.25,
      created_by: "bootstrap-admin",
      lineage: {
        mlflow_model: name,
        mlflow_version: imported.version,
        mlflow_run: run,
        base_model: "meta-llama/Llama-3.1-8B",
        dataset: "ds-9",
      },
    });
    // The MLflow version now says which agentgate version it is.
    const back = tagRecord((await mlflow.getModelVersion(name, imported.version)).tags);
    expect(back).toMatchObject({
      "agentgate.version": "2",
      "agentgate.kind": "fine_tuned",
      "agentgate.agent": "writer",
    });

    // Again, both ways: nothing new; the same versions are skipped for the same reasons.
    const again = await sync({ system: sys, agent: "writer" });
    expect(again.summary).toMatchObject({ created: 0, updated: 0, deleted: 0, skipped: 3, failed: 0 });
    expect(pick(again, { object: "model_version", version: 2, action: "unchanged" })).toHaveLength(1);
    const writerVersions = await api<{ data: unknown[] }>("GET", `/systems/${sys}/agents/writer/versions`);
    expect(writerVersions.data).toHaveLength(2);
  });

  it("pull imports a version registered with MLflow's Python client from a training run", async () => {
    const script = `
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(${JSON.stringify(server.url)})
mlflow.set_experiment("critic-finetune-${backend}")
with mlflow.start_run() as run:
    mlflow.log_param("base_model", "gpt-4o-mini")
    mlflow.log_metric("eval_accuracy", 0.91)
mv = MlflowClient().create_model_version(
    name=${JSON.stringify(model("critic"))},
    source="agentgate://openai/ft:gpt-4o-mini:org:critic:xyz",
    run_id=run.info.run_id,
    tags={"agentgate.kind": "fine_tuned", "agentgate.parent_version": "1"},
)
print("RESULT", run.info.run_id, mv.version)
`;
    // MLflow prints its own lines (a link to the run) on stdout too.
    const line = (await runPython(script)).split("\n").find((l) => l.startsWith("RESULT "));
    const [, runId, mlVersion] = (line ?? "").trim().split(/\s+/);
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    const r = await sync({ system: sys, agent: "critic" });
    expect(pick(r, { object: "agentgate_version", action: "created" })).toEqual([
      expect.objectContaining({ version: 3, mlflow_version: mlVersion }),
    ]);
    const v = await api<Record<string, unknown>>("GET", `/systems/${sys}/agents/critic/versions/3`);
    expect(v).toMatchObject({
      kind: "fine_tuned",
      upstream: "openai",
      model: "ft:gpt-4o-mini:org:critic:xyz",
      lineage: {
        mlflow_model: model("critic"),
        mlflow_version: mlVersion,
        mlflow_run: runId,
        parent_version: 1,
      },
    });
    // Pull ran before push in the same sync and wrote the version's tags back: push finds it
    // mirrored, and the champion (still version 1) did not move.
    expect(pick(r, { object: "model_version", version: 3 })).toEqual([
      expect.objectContaining({ action: "unchanged", mlflow_version: mlVersion }),
    ]);
    expect(
      tagRecord((await mlflow.getModelVersion(model("critic"), mlVersion as string)).tags),
    ).toMatchObject({
      "agentgate.version": "3",
      "agentgate.model": "ft:gpt-4o-mini:org:critic:xyz",
    });
    expect(await aliasOf(model("critic"), "champion")).toBe("1");
    const again = await sync({ system: sys, agent: "critic" });
    expect(again.summary).toMatchObject({ created: 0, updated: 0, deleted: 0, failed: 0 });
  });

  it("GET /mlflow/links says which MLflow model version mirrors each version, and where it came from", async () => {
    const { data } = await api<{ data: Record<string, unknown>[] }>(
      "GET",
      `/mlflow/links?system=${sys}&agent=writer`,
    );
    expect(data).toEqual([
      expect.objectContaining({
        system: sys,
        agent: "writer",
        version: 1,
        registered_model: model("writer"),
        model_version: "1",
        origin: "push",
        run_id: null,
      }),
      expect.objectContaining({ version: 2, origin: "pull", run_id: "0123456789abcdef0123456789abcdef" }),
    ]);
    const all = await api<{ data: unknown[] }>("GET", `/mlflow/links?system=${sys}`);
    expect(all.data).toHaveLength(3 + 2 + 3);
  });

  it("a version deleted in MLflow is created again on the next push, and its link follows", async () => {
    await mlflow.deleteModelVersion(model("critic"), "2");
    const r = await sync({ system: sys, agent: "critic", direction: "push" });
    const recreated = pick(r, { object: "model_version", version: 2 })[0];
    expect(recreated).toMatchObject({ action: "created" });
    const link = await t.gw.dbHandle
      .db("mlflow_links as l")
      .join("versions as v", "v.id", "l.version_id")
      .join("agents as a", "a.id", "v.agent_id")
      .where({ "a.name": "critic", "v.number": 2 })
      .first("l.model_version");
    expect(link.model_version).toBe(recreated?.mlflow_version);
  });
});
