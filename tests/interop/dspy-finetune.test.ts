/**
 * A real DSPy BootstrapFinetune run (PyPI dspy 3.x) with OPENAI_BASE_URL pointing at agentgate:
 * DSPy bootstraps traces through the proxy (the fake upstream answers in its ChatAdapter format),
 * uploads them and creates the job on agentgate's /v1 fine-tuning endpoints; agentgate stores the
 * file as a dataset, forwards the job to the fake trainer, registers the new fine_tuned version,
 * and DSPy's compiled program calls that version. Afterwards the version is an experiment arm.
 * DSPy's OpenAIProvider polls every 20 s: the fake trainer finishes at the first poll.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dspyChatAdapterReply } from "../fakes/dspy-chat-adapter.js";
import { type FakeTrainer, startFakeTrainer } from "../fakes/fake-trainer.js";
import { type Gateway, routingSettled, seedSystem, startGateway } from "../helpers/dataplane.js";
import { runPython } from "./python.js";

const BASE = "gpt-4o-mini-2024-07-18";
const KEY_ENV = "AGENTGATE_INTEROP_TRAINER_KEY";

type Result = {
  dspy_version: string;
  base_model: string;
  tuned_model: string;
  answer: string;
  served_version: string | null;
  route: string | null;
};

describe("DSPy BootstrapFinetune through agentgate (pglite)", () => {
  let g: Gateway;
  let trainer: FakeTrainer;
  let r: Result;
  let dir: string;

  beforeAll(async () => {
    process.env[KEY_ENV] = "sk-interop-trainer-key";
    trainer = await startFakeTrainer({ apiKey: "sk-interop-trainer-key", stepsPerRetrieve: 3 });
    g = await startGateway(
      "pglite",
      { AGENTGATE_FINETUNE_TRAINER: "trainer", AGENTGATE_FINETUNE_POLL_MS: "0" },
      {
        fake: {
          reply: (req, model) =>
            dspyChatAdapterReply(req, model, (f, m) => (f === "answer" ? `42 from ${m}` : `${f} by ${m}`)),
        },
      },
    );
    await g.admin("POST", "/upstreams", { name: "trainer", base_url: trainer.url, api_key_env: KEY_ENV });
    await seedSystem(g, "qa", ["solver"], [BASE]);
    const token = async (name: string, scope: string) =>
      (await g.admin<{ token: string }>("POST", "/tokens", { name, scopes: [scope] })).token;
    dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-dspy-ft-"));
    ({ result: r } = await runPython<Result>("dspy_finetune.py", {
      timeoutMs: 170_000,
      env: {
        AGENTGATE_BASE_URL: `${g.url}/v1`,
        AGENTGATE_PROXY_KEY: await token("dspy-agents", "proxy"),
        AGENTGATE_AGENT: "qa/solver",
        OPENAI_BASE_URL: `${g.url}/v1`,
        OPENAI_API_KEY: await token("dspy-trainer", "write"),
        DSPY_FINETUNEDIR: dir,
      },
    }));
  }, 240_000);
  afterAll(async () => {
    await g?.close();
    await trainer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("stored DSPy's training file as a dataset and trained it on the configured trainer", async () => {
    expect(r.dspy_version).toMatch(/^3\./);
    const { data } = await g.admin<{
      data: { id: number; examples: number; created_by: string; content_sha256: string }[];
    }>("GET", "/datasets");
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ examples: 12, created_by: "dspy-trainer" });
    const content = await (
      await fetch(`${g.url}/api/v1/datasets/${data[0]?.id}/download`, { headers: { authorization: g.auth } })
    ).text();
    expect(trainer.files).toHaveLength(1);
    expect(trainer.files[0]?.content).toBe(content);
    const first = JSON.parse(content.split("\n")[0] as string) as {
      messages: { role: string; content: string }[];
    };
    expect(first.messages.map((m) => m.role)).toEqual(["system", "user", "assistant"]);
    expect(first.messages[2]?.content).toContain("[[ ## answer ## ]]");
  });

  it("registered the fine-tuned version with lineage, and DSPy's compiled program calls it", async () => {
    const jobs = (
      await g.admin<{
        data: {
          id: number;
          origin: string;
          status: string;
          base_model: string;
          versions: unknown[];
          fine_tuned_model: string;
        }[];
      }>("GET", "/fine-tunes")
    ).data;
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      origin: "openai",
      status: "succeeded",
      base_model: BASE,
      versions: [{ agent: "qa/solver", version: 2 }],
    });
    const v = await g.admin<{
      kind: string;
      model: string;
      upstream: string;
      lineage: Record<string, unknown>;
    }>("GET", "/systems/qa/agents/solver/versions/2");
    expect(v).toMatchObject({
      kind: "fine_tuned",
      upstream: "fake",
      model: jobs[0]?.fine_tuned_model,
      lineage: { base_model: BASE, parent_version: 1, fine_tune_job: String(jobs[0]?.id) },
    });
    expect(r.base_model).toBe("openai/agent:qa/solver");
    expect(r.tuned_model).toBe("openai/agent:qa/solver@2");
    expect([r.served_version, r.route]).toEqual(["2", "pinned"]);
    expect(r.answer).toBe(`42 from ${v.model}`);
  });

  it("the new version can be put in an A/B experiment against the champion", async () => {
    const exp = await g.admin<{ id: number }>("POST", "/experiments", {
      name: "dspy-ft",
      system: "qa",
      agent: "solver",
      arms: [
        { name: "control", weight: 1, versions: { solver: 1 } },
        { name: "finetuned", weight: 1, versions: { solver: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${exp.id}/start`, {});
    await routingSettled(g);
    const served = new Set<string | null>();
    for (let i = 0; i < 20; i++) {
      const { response } = await g
        .client()
        .chat.completions.create(
          { model: "agent:qa/solver", messages: [{ role: "user", content: "hi" }] },
          { headers: { "X-Session-Id": `s-${i}` } },
        )
        .withResponse();
      served.add(response.headers.get("x-agentgate-version"));
    }
    expect(served).toEqual(new Set(["1", "2"]));
  });
});
