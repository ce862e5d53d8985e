/**
 * agentgate's own OpenAI-compatible fine-tuning endpoints, driven with the `openai` SDK as an
 * OpenAI client would: the uploaded training file becomes a validated dataset; a job naming the
 * agent (`model: "agent:system/agent"`) is forwarded to the configured trainer with the champion's
 * base model; its `fine_tuned_model` routes to the new version through the proxy (a per-call pin),
 * while the agent's own traffic keeps its champion. Auth needs the write scope.
 */
import { createHash } from "node:crypto";
import type OpenAI from "openai";
import { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { routingSettled } from "../helpers/dataplane.js";
import { BASE_MODEL, download, type FineTuneEnv, startFineTuneEnv } from "./setup.js";

const row = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "system", content: "Your input fields are: `question`." },
      { role: "user", content: `[[ ## question ## ]]\nWhat is ${i} + ${i}?` },
      { role: "assistant", content: `[[ ## answer ## ]]\n${2 * i}\n\n[[ ## completed ## ]]` },
    ],
  });

describe.each(backends())("OpenAI-compatible fine-tuning endpoint on %s", (backend) => {
  let env: FineTuneEnv;
  let writer: OpenAI;
  let proxyKey: string;

  beforeAll(async () => {
    env = await startFineTuneEnv(backend, ["solver"], { AGENTGATE_FINETUNE_TRAINER: "trainer" });
    env.trainer.setStepsPerRetrieve(3);
    const token = async (name: string, scope: string) =>
      (await env.g.admin<{ token: string }>("POST", "/tokens", { name, scopes: [scope] })).token;
    writer = env.g.client(await token("trainer-bot", "write"));
    proxyKey = await token("agents", "proxy");
  }, 120_000);
  afterAll(() => env?.close());

  it("upload → dataset; job → trainer; fine_tuned_model routes to the new version", async () => {
    const lines = [
      ...Array.from({ length: 12 }, (_, i) => row(i)),
      row(3),
      JSON.stringify({ messages: [{ role: "user", content: "no answer" }] }),
    ];
    const file = await writer.files.create({
      file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "dspy-train.jsonl"),
      purpose: "fine-tune",
    });
    expect(file).toMatchObject({
      object: "file",
      purpose: "fine-tune",
      filename: "dspy-train.jsonl",
      status: "processed",
    });
    const datasetId = Number(file.id.replace("file-agentgate-", ""));
    const ds = await env.g.admin<{
      examples: number;
      considered: number;
      dropped: Record<string, number>;
      content_sha256: string;
      created_by: string;
    }>("GET", `/datasets/${datasetId}`);
    expect(ds).toMatchObject({
      examples: 12,
      considered: 14,
      dropped: { duplicate: 1, empty_answer: 1 },
      created_by: "trainer-bot",
    });
    const content = await download(env.g, datasetId);
    expect(createHash("sha256").update(content).digest("hex")).toBe(ds.content_sha256);
    expect((await writer.files.retrieve(file.id)).id).toBe(file.id);
    // The same bytes again: the same dataset.
    const again = await writer.files.create({
      file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "x.jsonl"),
      purpose: "fine-tune",
    });
    expect(again.id).toBe(file.id);

    const job = await writer.fineTuning.jobs.create({
      model: "agent:shop/solver",
      training_file: file.id,
      hyperparameters: { n_epochs: 1 },
    });
    expect(job).toMatchObject({
      object: "fine_tuning.job",
      model: BASE_MODEL,
      status: "validating_files",
      fine_tuned_model: null,
      training_file: file.id,
    });
    expect(job.id).toMatch(/^ftjob-agentgate-\d+$/);
    const uploaded = env.trainer.files.at(-1);
    expect(uploaded?.content).toBe(content);
    expect(env.trainer.requests.at(-1)?.body).toMatchObject({
      model: BASE_MODEL,
      hyperparameters: { n_epochs: 1 },
    });

    const done = await writer.fineTuning.jobs.retrieve(job.id);
    expect(done).toMatchObject({ status: "succeeded", fine_tuned_model: "openai/agent:shop/solver@2" });
    expect(done.trained_tokens).toBeGreaterThan(0);
    const v = await env.g.admin<{
      kind: string;
      upstream: string;
      model: string;
      lineage: Record<string, unknown>;
      prompt: unknown;
    }>("GET", "/systems/shop/agents/solver/versions/2");
    expect(v).toMatchObject({
      kind: "fine_tuned",
      upstream: "fake",
      prompt: null,
      lineage: { dataset_id: datasetId, base_model: BASE_MODEL },
    });
    const stored = await env.g.admin<{ origin: string }>(
      "GET",
      `/fine-tunes/${job.id.replace("ftjob-agentgate-", "")}`,
    );
    expect(stored.origin).toBe("openai");

    // What a client calls next: the new version, pinned for that call; the agent keeps its champion.
    const agents = env.g.client(proxyKey);
    for (const model of [done.fine_tuned_model as string, "agent:shop/solver@2"]) {
      const { data, response } = await agents.chat.completions
        .create({ model, messages: [{ role: "user", content: "2 + 2?" }] })
        .withResponse();
      expect([
        response.headers.get("x-agentgate-version"),
        response.headers.get("x-agentgate-route"),
      ]).toEqual(["2", "pinned"]);
      expect(data.choices[0]?.message.content).toContain(`Echo from ${v.model}`);
    }
    const { response } = await agents.chat.completions
      .create({ model: "agent:shop/solver", messages: [{ role: "user", content: "2 + 2?" }] })
      .withResponse();
    expect([response.headers.get("x-agentgate-version"), response.headers.get("x-agentgate-route")]).toEqual([
      "1",
      "champion",
    ]);
    await expect(
      agents.chat.completions.create({
        model: "agent:shop/solver@9",
        messages: [{ role: "user", content: "x" }],
      }),
    ).rejects.toMatchObject({ status: 404, code: "version_not_found" });
    // A miss is remembered only until the routing table is rebuilt, which registering does.
    const addressed = () =>
      agents.chat.completions
        .create({ model: "agent:shop/solver@3", messages: [{ role: "user", content: "x" }] })
        .withResponse();
    await expect(addressed()).rejects.toMatchObject({ status: 404, code: "version_not_found" });
    await env.g.admin("POST", "/systems/shop/agents/solver/versions", {
      kind: "base_optimized",
      upstream: "fake",
      model: "other-model",
    });
    await routingSettled(env.g);
    const third = await addressed();
    expect(third.response.headers.get("x-agentgate-version")).toBe("3");
    expect(third.data.choices[0]?.message.content).toContain("Echo from other-model");

    const events = await writer.fineTuning.jobs.listEvents(job.id, { limit: 1 });
    expect(events.data[0]?.message).toBe("The job has successfully completed");
    const list = await writer.fineTuning.jobs.list();
    expect(list.data.map((j) => j.id)).toContain(job.id);
  });

  it("names the agent by header or suffix; refuses what it cannot serve, with OpenAI-shaped errors", async () => {
    const lines = Array.from({ length: 10 }, (_, i) => row(100 + i)).join("\n");
    const file = await writer.files.create({
      file: await toFile(Buffer.from(lines), "b.jsonl"),
      purpose: "fine-tune",
    });
    const byHeader = await writer.fineTuning.jobs.create(
      { model: BASE_MODEL, training_file: file.id },
      { headers: { "X-Agent": "shop/solver" } },
    );
    expect(byHeader.metadata).toMatchObject({ agents: "shop/solver" });
    const bySuffix = await writer.fineTuning.jobs.create({
      model: "gpt-4.1-mini",
      training_file: file.id,
      suffix: "shop.solver",
    });
    expect(bySuffix).toMatchObject({ model: "gpt-4.1-mini", metadata: { agents: "shop/solver" } });
    const cancelled = await writer.fineTuning.jobs.cancel(bySuffix.id);
    expect(cancelled.status).toBe("cancelled");

    await expect(
      writer.fineTuning.jobs.create({ model: BASE_MODEL, training_file: file.id }),
    ).rejects.toMatchObject({
      status: 400,
      param: "model",
    });
    await expect(
      writer.fineTuning.jobs.create({ model: "agent:shop/ghost", training_file: file.id }),
    ).rejects.toMatchObject({ status: 404, code: "agent_not_found" });
    await expect(
      writer.files.create({ file: await toFile(Buffer.from(row(1)), "tiny.jsonl"), purpose: "fine-tune" }),
    ).rejects.toMatchObject({ status: 422, code: "insufficient_examples" });
    await expect(
      writer.files.create({ file: await toFile(Buffer.from(lines), "b.jsonl"), purpose: "assistants" }),
    ).rejects.toMatchObject({ status: 400, param: "purpose" });
    await expect(env.g.client(proxyKey).fineTuning.jobs.list()).rejects.toMatchObject({
      status: 403,
      code: "insufficient_scope",
    });
    await expect(env.g.client("not-a-token").fineTuning.jobs.list()).rejects.toMatchObject({ status: 401 });
    await expect(writer.fineTuning.jobs.retrieve("ftjob-agentgate-99999")).rejects.toMatchObject({
      status: 404,
      code: "fine_tune_not_found",
    });
  });
});

describe("the fine-tuning endpoint without a trainer configured", () => {
  let env: FineTuneEnv;
  beforeAll(async () => {
    env = await startFineTuneEnv("pglite", ["solver"]);
  }, 120_000);
  afterAll(() => env?.close());

  it("still stores uploads, and answers job creation 503 naming the missing setting", async () => {
    const { token } = await env.g.admin<{ token: string }>("POST", "/tokens", {
      name: "bot",
      scopes: ["write"],
    });
    const writer = env.g.client(token);
    const lines = Array.from({ length: 10 }, (_, i) => row(200 + i)).join("\n");
    const file = await writer.files.create({
      file: await toFile(Buffer.from(lines), "c.jsonl"),
      purpose: "fine-tune",
    });
    expect(file.id).toMatch(/^file-agentgate-\d+$/);
    const err = await writer.fineTuning.jobs
      .create({ model: "agent:shop/solver", training_file: file.id })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(String((err as Error).message)).toContain("AGENTGATE_FINETUNE_TRAINER");
    expect(env.trainer.jobs.size).toBe(0);
  });
});
