/**
 * Fine-tune jobs against the fake trainer (public OpenAI files + fine_tuning.jobs shapes): launch
 * uploads exactly the dataset's bytes and creates the job; the follower (and GET) follow it to the
 * end; success registers one fine_tuned version per agent with full lineage and training cost,
 * routable through the proxy; a global job registers one version per agent; failures and
 * cancellations are recorded and audited without a version; trainer faults are clear 502/504s
 * and never break the follower.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { routingSettled } from "../helpers/dataplane.js";
import { metricSum } from "../helpers/metrics.js";
import {
  BASE_MODEL,
  call,
  type Dataset,
  dataset,
  download,
  type FineTune,
  type FineTuneEnv,
  startFineTuneEnv,
  TRAINER_KEY,
} from "./setup.js";

type Audit = {
  action: string;
  actor: string;
  object_key: string;
  reason: string | null;
  after: Record<string, unknown>;
};

const tokensOf = (content: string, epochs: number) =>
  content
    .split("\n")
    .filter((l) => l.trim() !== "")
    .reduce((t, l) => t + Math.ceil(Buffer.byteLength(l) / 4), 0) * epochs;

describe.each(backends())("fine-tune jobs on %s", (backend) => {
  let env: FineTuneEnv;
  let planner: Dataset;
  let global: Dataset;
  let perAgent: Dataset;
  const g = () => env.g;
  const audit = async (key: string) =>
    (await g().admin<{ data: Audit[] }>("GET", `/audit?object_type=fine_tune&object=${key}`)).data;
  const sweep = () => g().gw.fineTuneFollower.sweep();
  /** `agentgate_fine_tunes_ended_total{status}` as /metrics shows it (0 before the first). */
  const ended = (status: string) => metricSum(g().url, "agentgate_fine_tunes_ended_total", { status });

  beforeAll(async () => {
    env = await startFineTuneEnv(backend, ["planner", "writer", "critic"]);
    planner = await dataset(g(), "planner-ds", ["planner"]);
    global = await dataset(g(), "global-ds", ["writer", "critic"], "global");
    perAgent = await dataset(g(), "per-agent-ds", ["writer", "critic"]);
  }, 120_000);
  afterAll(() => env?.close());

  it("launch → follow → succeeded: one fine_tuned version with lineage and cost, routable", async () => {
    const job = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
      suffix: "planner",
      hyperparameters: { n_epochs: 2 },
      register: { upstream: "fake", prompt: { system: "Plan briefly." }, tags: { team: "planning" } },
    });
    expect(job).toMatchObject({
      origin: "api",
      status: "validating_files",
      trainer: "trainer",
      agents: ["shop/planner"],
      dataset: { id: planner.id, sha256: planner.content_sha256, file: "shop/planner" },
      base_model: BASE_MODEL,
      fine_tuned_model: null,
      versions: [],
      created_by: "bootstrap-admin",
    });

    // The trainer received exactly the dataset's bytes, for fine-tuning, and the job as asked.
    const content = await download(g(), planner.id);
    const uploaded = env.trainer.files.find((f) => f.id === job.trainer_file_id);
    expect(uploaded?.purpose).toBe("fine-tune");
    expect(uploaded?.filename).toBe("planner-ds.shop.planner.jsonl");
    expect(uploaded?.content).toBe(content);
    const create = env.trainer.requests.find((r) => r.method === "POST" && r.path === "/v1/fine_tuning/jobs");
    expect(create?.body).toEqual({
      model: BASE_MODEL,
      training_file: job.trainer_file_id,
      suffix: "planner",
      hyperparameters: { n_epochs: 2 },
    });

    // Each follower pass moves the fake one step: queued, running, succeeded.
    const succeededBefore = await ended("succeeded");
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      await sweep();
      statuses.push(
        (await g().admin<{ data: FineTune[] }>("GET", "/fine-tunes")).data.find((j) => j.id === job.id)
          ?.status ?? "",
      );
    }
    expect(statuses).toEqual(["queued", "running", "succeeded"]);
    // Counted once, however often the job is read afterwards.
    await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`);
    expect(await ended("succeeded")).toBe(succeededBefore + 1);

    const done = await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`);
    const trained = tokensOf(content, 2);
    expect(done).toMatchObject({
      status: "succeeded",
      fine_tuned_model: expect.stringMatching(/^ft:gpt-4o-mini-2024-07-18:fake-org:planner:\w{8}$/),
      trained_tokens: trained,
      cost_note: null,
      error: null,
      poll_error: null,
      versions: [{ agent: "shop/planner", version: 2 }],
    });
    expect(done.training_cost_usd).toBeCloseTo((trained * 3) / 1_000_000, 12);

    const v = await g().admin<Record<string, unknown>>("GET", "/systems/shop/agents/planner/versions/2");
    expect(v).toMatchObject({
      kind: "fine_tuned",
      upstream: "fake",
      model: done.fine_tuned_model,
      prompt: { system: "Plan briefly." },
      training_cost_usd: done.training_cost_usd,
      tags: { team: "planning", fine_tune_job: String(job.id) },
      created_by: "system:finetune",
      lineage: {
        parent_version: 1,
        dataset: String(planner.id),
        dataset_id: planner.id,
        dataset_sha256: planner.content_sha256,
        base_model: BASE_MODEL,
        fine_tune_job: String(job.id),
        trainer: "trainer",
        trainer_job_id: job.trainer_job_id,
        trained_tokens: trained,
        job_training_cost_usd: done.training_cost_usd,
      },
    });

    // Routable: pinned, the proxy serves the fine-tuned model with the version's prompt.
    await g().admin("PUT", "/systems/shop/agents/planner/pin", { version: 2 });
    await routingSettled(g());
    const { data, response } = await g()
      .client()
      .chat.completions.create({
        model: "agent:shop/planner",
        messages: [{ role: "user", content: "hello" }],
      })
      .withResponse();
    expect(response.headers.get("x-agentgate-version")).toBe("2");
    expect(data.choices[0]?.message.content).toContain(`Echo from ${done.fine_tuned_model}`);
    const sent = env.g.fake.requests.at(-1)?.body as {
      model: string;
      messages: { role: string; content: string }[];
    };
    expect(sent.model).toBe(done.fine_tuned_model);
    expect(sent.messages[0]).toEqual({ role: "system", content: "Plan briefly." });
    await g().admin("DELETE", "/systems/shop/agents/planner/pin", {});

    // Done means done: later passes neither ask the trainer nor register again.
    const asked = env.trainer.requests.length;
    await sweep();
    await g().admin("GET", `/fine-tunes/${job.id}`);
    expect(env.trainer.requests.length).toBe(asked);
    expect(
      (await g().admin<{ data: unknown[] }>("GET", "/systems/shop/agents/planner/versions")).data.length,
    ).toBe(2);

    const entries = await audit(String(job.id));
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ["fine_tune.succeeded", "system:finetune"],
      ["fine_tune.create", "bootstrap-admin"],
    ]);
    expect(entries[0]?.after).toMatchObject({
      status: "succeeded",
      versions: [{ agent: "shop/planner", version: 2 }],
    });
    const registered = (
      await g().admin<{ data: Audit[] }>("GET", "/audit?object=shop/planner&action=version.register")
    ).data;
    expect(registered[0]).toMatchObject({
      actor: "system:finetune",
      after: { version: 2, kind: "fine_tuned" },
    });
  });

  it("a global job registers one version per agent, all linked to the job; unknown price → null cost", async () => {
    const job = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: global.id,
      trainer: "trainer",
      base_model: "acme-open-8b",
      register: { upstream: "fake" },
    });
    expect(job.agents).toEqual(["shop/writer", "shop/critic"]);
    expect(job.dataset.file).toBe("*");
    expect(env.trainer.files.find((f) => f.id === job.trainer_file_id)?.content).toBe(
      await download(g(), global.id),
    );
    // Following by showing the job (GET refreshes it from the trainer).
    let shown = job;
    for (let i = 0; i < 3; i++) shown = await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`);
    expect(shown).toMatchObject({
      status: "succeeded",
      training_cost_usd: null,
      cost_note: "no training price for 'acme-open-8b' in the price table",
      versions: [
        { agent: "shop/writer", version: 2 },
        { agent: "shop/critic", version: 2 },
      ],
    });
    for (const agent of ["writer", "critic"]) {
      const v = await g().admin<{ model: string; lineage: Record<string, unknown>; training_cost_usd: null }>(
        "GET",
        `/systems/shop/agents/${agent}/versions/2`,
      );
      expect(v.model).toBe(shown.fine_tuned_model);
      expect(v.training_cost_usd).toBeNull();
      expect(v.lineage).toMatchObject({
        fine_tune_job: String(job.id),
        dataset_sha256: global.content_sha256,
        shared_with: ["shop/writer", "shop/critic"],
      });
      // The base model differs from the champion's: no parent is claimed.
      expect(v.lineage.parent_version).toBeUndefined();
    }
    // Both versions can be arms of a system-scoped experiment.
    const exp = await g().admin<{ id: number }>("POST", "/experiments", {
      name: "global-ft",
      system: "shop",
      arms: [
        { name: "control", weight: 1, versions: { writer: 1, critic: 1 } },
        { name: "global", weight: 1, versions: { writer: 2, critic: 2 } },
      ],
    });
    await g().admin("POST", `/experiments/${exp.id}/start`, {});
    await g().admin("POST", `/experiments/${exp.id}/stop`, {});
  });

  it("a failed job is recorded with the trainer's error and audited, and registers nothing", async () => {
    const failedBefore = await ended("failed");
    env.trainer.failNextJob({
      code: "invalid_n_epochs",
      message: "n_epochs must be at most 10",
      param: "n_epochs",
    });
    const job = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
    });
    await sweep();
    await sweep();
    const failed = await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`);
    expect(failed).toMatchObject({
      status: "failed",
      error: { code: "invalid_n_epochs", message: "n_epochs must be at most 10", param: "n_epochs" },
      versions: [],
      fine_tuned_model: null,
    });
    const entries = await audit(String(job.id));
    expect(entries[0]).toMatchObject({ action: "fine_tune.failed", actor: "system:finetune" });
    expect(entries[0]?.after).toMatchObject({ status: "failed", error: { code: "invalid_n_epochs" } });
    await sweep();
    expect(await ended("failed")).toBe(failedBefore + 1);
    expect(
      (await g().admin<{ data: unknown[] }>("GET", "/systems/shop/agents/planner/versions")).data.length,
    ).toBe(2);
  });

  it("cancel: the trainer's job is cancelled, recorded and audited; a finished job cannot be cancelled", async () => {
    const cancelledBefore = await ended("cancelled");
    const job = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
    });
    const cancelled = await g().admin<FineTune>("POST", `/fine-tunes/${job.id}/cancel`, {
      reason: "wrong dataset",
    });
    expect(cancelled).toMatchObject({ status: "cancelled", versions: [], error: { code: "cancelled" } });
    expect(env.trainer.jobs.get(job.trainer_job_id)?.status).toBe("cancelled");
    const entries = await audit(String(job.id));
    expect(entries.map((e) => e.action)).toEqual([
      "fine_tune.cancelled",
      "fine_tune.cancel",
      "fine_tune.create",
    ]);
    expect(entries[1]).toMatchObject({ actor: "bootstrap-admin", reason: "wrong dataset" });
    const again = await call(g(), "POST", `/fine-tunes/${job.id}/cancel`, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: "invalid_state",
      message: `fine-tune ${job.id} is already cancelled`,
    });
    const asked = env.trainer.requests.length;
    await sweep();
    expect(env.trainer.requests.length).toBe(asked);
    expect(await ended("cancelled")).toBe(cancelledBefore + 1);
  });

  it("events: the trainer's events, newest first, paged", async () => {
    const [job] = (await g().admin<{ data: FineTune[] }>("GET", "/fine-tunes?status=succeeded")).data.slice(
      -1,
    );
    const all = await g().admin<{
      data: { id: string; message: string; level: string }[];
      has_more: boolean;
    }>("GET", `/fine-tunes/${job?.id}/events`);
    expect(all.has_more).toBe(false);
    expect(all.data[0]?.message).toBe("The job has successfully completed");
    expect(all.data.at(-1)?.message).toMatch(/^Created fine-tuning job: ftjob-/);
    const first = await g().admin<{ data: { id: string }[]; has_more: boolean }>(
      "GET",
      `/fine-tunes/${job?.id}/events?limit=2`,
    );
    expect(first.has_more).toBe(true);
    const next = await g().admin<{ data: { id: string }[] }>(
      "GET",
      `/fine-tunes/${job?.id}/events?limit=2&after=${first.data[1]?.id}`,
    );
    expect(next.data.map((e) => e.id)).toEqual(all.data.slice(2, 4).map((e) => e.id));
  });

  it("trainer faults: 5xx on create, wrong key, unreachable → clear 502s; a poll failure is kept and retried", async () => {
    const before = env.trainer.files.length;
    env.trainer.failCreate(503);
    const r503 = await call(g(), "POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
    });
    expect(r503.status).toBe(502);
    expect(r503.body.error).toMatchObject({ code: "upstream_error", type: "upstream_error" });
    expect(r503.body.error.message).toMatch(
      /^trainer 'trainer' answered 503 to the job creation: The server had an error/,
    );
    // The uploaded file was removed again; no job row was stored.
    expect(env.trainer.files.length).toBe(before);

    await g().admin("POST", "/upstreams", {
      name: "badkey",
      base_url: env.trainer.url,
      api_key_env: "AGENTGATE_TEST_NO_SUCH_KEY",
    });
    const r401 = await call(g(), "POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "badkey",
      base_model: BASE_MODEL,
    });
    expect(r401.status).toBe(502);
    expect(r401.body.error.message).toBe(
      "trainer 'badkey' answered 401 to the training file upload: Incorrect API key provided.",
    );

    await g().admin("POST", "/upstreams", {
      name: "down",
      base_url: "http://127.0.0.1:9/v1",
      timeout_ms: 2000,
    });
    const down = await call(g(), "POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "down",
      base_model: BASE_MODEL,
    });
    expect(down.status).toBe(502);
    expect(down.body.error.message).toBe("trainer 'down' is unreachable (the training file upload)");
    for (const r of [r503, r401, down]) expect(JSON.stringify(r.body)).not.toContain(TRAINER_KEY);

    // A running job whose trainer fails a status request: kept, shown, retried.
    const job = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: planner.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
    });
    env.trainer.failRetrieve(500, 1);
    await sweep();
    const shown = await g().admin<FineTune>("GET", `/fine-tunes/${job.id}/`.replace(/\/$/, ""));
    // The GET itself asked again (and succeeded), moving the job on and clearing the error.
    expect(shown).toMatchObject({ status: "queued", poll_error: null });
    env.trainer.failRetrieve(502, 1);
    const failedPoll = await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`);
    expect(failedPoll).toMatchObject({ status: "queued" });
    expect(failedPoll.poll_error).toMatch(/^trainer 'trainer' answered 502 to a job status request/);
    await sweep();
    await sweep();
    expect(await g().admin<FineTune>("GET", `/fine-tunes/${job.id}`)).toMatchObject({
      status: "succeeded",
      poll_error: null,
    });
    // Events of a job whose trainer is unreachable: a 502 naming it.
    await g().admin("PATCH", "/upstreams/trainer", { base_url: "http://127.0.0.1:9/v1" });
    const ev = await call(g(), "GET", `/fine-tunes/${job.id}/events`);
    expect(ev.status).toBe(502);
    expect(ev.body.error.message).toBe("trainer 'trainer' is unreachable (an events request)");
    await g().admin("PATCH", "/upstreams/trainer", { base_url: env.trainer.url });
  });

  it("refuses bad requests with OpenAI-shaped errors", async () => {
    const cases: [unknown, number, string, RegExp][] = [
      [{ dataset: planner.id, trainer: "trainer" }, 400, "invalid_request", /^base_model: /],
      [
        { dataset: planner.id, trainer: "nope", base_model: "m" },
        404,
        "upstream_not_found",
        /trainer 'nope'/,
      ],
      [{ dataset: 999999, trainer: "trainer", base_model: "m" }, 404, "dataset_not_found", /dataset 999999/],
      [
        { dataset: perAgent.id, trainer: "trainer", base_model: "m" },
        400,
        "invalid_request",
        /one file per agent/,
      ],
      [
        { dataset: planner.id, trainer: "trainer", base_model: "m", agents: ["shop/ghost"] },
        404,
        "agent_not_found",
        /shop\/ghost/,
      ],
      [
        { dataset: planner.id, trainer: "trainer", base_model: "m", register: { upstream: "nope" } },
        404,
        "upstream_not_found",
        /nope/,
      ],
      [
        { dataset: planner.id, trainer: "trainer", base_model: "m", suffix: "a b" },
        400,
        "invalid_request",
        /^suffix: /,
      ],
      [
        { dataset: planner.id, trainer: "trainer", base_model: "m", hyperparameters: { n_epochs: -1 } },
        400,
        "invalid_request",
        /^hyperparameters\.n_epochs/,
      ],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await call(g(), "POST", "/fine-tunes", body);
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([status, code]);
      expect(r.body.error.message).toMatch(message);
    }
    // One agent's file of a per-agent dataset is fine.
    const one = await g().admin<FineTune>("POST", "/fine-tunes", {
      dataset: perAgent.id,
      trainer: "trainer",
      base_model: BASE_MODEL,
      agents: ["shop/critic"],
    });
    expect(one.dataset.file).toBe("shop/critic");
    expect((await call(g(), "GET", "/fine-tunes/0")).status).toBe(400);
    expect((await call(g(), "GET", "/fine-tunes/424242")).body.error.code).toBe("fine_tune_not_found");
  });
});
