/**
 * Datasets from real captured traffic (openai SDK → agentgate → fake upstream): per-agent files
 * and a global file with a per-agent cap; filters by version, arm, time and feedback (session and
 * call); de-duplication; validation with a drop report; fewer than 10 examples refused with that
 * report; both formats line by line; the content hash is the SHA-256 of the downloaded bytes.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";

type Msg = {
  role: string;
  content?: string;
  weight?: number;
  tool_calls?: unknown[];
  [k: string]: unknown;
};
type Dataset = {
  id: number;
  name: string;
  mode: string;
  format: string;
  examples: number;
  considered: number;
  content_sha256: string;
  dropped: Record<string, number>;
  tokens: { min: number; mean: number; max: number; total: number };
  files: {
    agent: string;
    sha256: string;
    bytes: number;
    examples: number;
    dropped: Record<string, number>;
  }[];
};

const ROLES = ["system", "user", "assistant", "tool"];

describe.each(backends())("datasets on %s", (backend) => {
  let g: Gateway;
  let splitAt: string;
  const sessionsPassed: string[] = [];
  const routerCallsPassed: string[] = [];

  async function call(
    agent: string,
    messages: Record<string, unknown>[],
    session?: string,
  ): Promise<{ id: string; content: string; arm: string | null }> {
    const { data, response } = await g
      .client()
      .chat.completions.create(
        { model: "x", messages: messages as never },
        { headers: { "X-Agent": `crm/${agent}`, ...(session ? { "X-Session-Id": session } : {}) } },
      )
      .withResponse();
    return {
      id: response.headers.get("x-agentgate-request-id") as string,
      content: data.choices[0]?.message.content ?? "",
      arm: response.headers.get("x-agentgate-arm"),
    };
  }
  const user = (content: string) => [{ role: "user", content }];

  const create = async (body: Record<string, unknown>, expect_ = 201) =>
    g.admin<Dataset>("POST", "/datasets", body, expect_);
  const post = async (body: Record<string, unknown>) => {
    const res = await fetch(`${g.url}/api/v1/datasets`, {
      method: "POST",
      headers: { authorization: g.auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      body: (await res.json()) as { error: { code: string; message: string; param: string } },
    };
  };
  const download = async (id: number, agent?: string) => {
    const res = await fetch(
      `${g.url}/api/v1/datasets/${id}/download${agent ? `?agent=${encodeURIComponent(agent)}` : ""}`,
      { headers: { authorization: g.auth } },
    );
    const bytes = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, bytes, lines: parseLines(bytes) };
  };
  const parseLines = (bytes: Buffer) =>
    bytes
      .toString("utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  beforeAll(async () => {
    g = await startGateway(backend, {
      AGENTGATE_CAPTURE_CLEANUP_MS: "0",
      AGENTGATE_GUARDRAIL_INTERVAL_MS: "0",
    });
    await seedSystem(g, "crm", ["router", "writer", "critic"]);
    // writer v3: optimized instructions and a demo; made champion.
    await g.admin("POST", "/systems/crm/agents/writer/versions", {
      kind: "base_optimized",
      upstream: "fake",
      model: "other-model",
      prompt: {
        system: "Optimized writer.",
        demos: [
          { role: "user", content: "demo question" },
          { role: "assistant", content: "demo answer" },
        ],
      },
    });
    await g.admin("PUT", "/systems/crm/agents/writer/aliases/champion", { version: 3 });
    for (const a of ["router", "writer", "critic"])
      await g.admin("PUT", `/systems/crm/agents/${a}/capture`, { enabled: true });
    await g.admin("POST", "/metrics", { name: "passed", type: "boolean", direction: "higher" });
    await routingSettled(g);

    // router: 12 calls on v1, then (after splitAt) 12 calls on v2 (pinned).
    for (let i = 0; i < 12; i++) {
      const r = await call("router", user(`router task ${i}`));
      if (i < 10) routerCallsPassed.push(r.id);
    }
    await eventsFlushed(g);
    await new Promise((r) => setTimeout(r, 20));
    splitAt = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await g.admin("PUT", "/systems/crm/agents/router/pin", { version: 2 });
    await routingSettled(g);
    for (let i = 12; i < 24; i++) await call("router", user(`router task ${i}`));
    await g.admin("DELETE", "/systems/crm/agents/router/pin", {});

    // writer: 20 sessions (feedback passed on even ones; session 1 corrected from false to true),
    // duplicates, and calls that fail validation.
    for (let i = 0; i < 20; i++) await call("writer", user(`writer draft ${i}`), `w-${i}`);
    await call("writer", user("writer draft 0"), "w-dup-a");
    await call("writer", user("writer draft 0"), "w-dup-b");
    await call("writer", user("  writer   draft 1 "), "w-dup-c");
    await call("writer", [...user("continue"), { role: "assistant", content: "prefill" }], "w-bad-1");
    await call("writer", [{ role: "user", content: "   " }, ...user("second")], "w-bad-2");
    await call(
      "writer",
      [
        { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AA" } }] },
        ...user("look"),
      ],
      "w-bad-3",
    );
    await call("writer", [{ role: "narrator", content: "once" }, ...user("upon")], "w-bad-4");
    await call("writer", user("x".repeat(2000)), "w-bad-5");
    await call(
      "writer",
      [
        ...user("y ".repeat(300)),
        { role: "assistant", content: "z ".repeat(300) },
        ...user("w ".repeat(300)),
      ],
      "w-bad-6",
    );
    await eventsFlushed(g);
    for (let i = 0; i < 20; i++) {
      const passed = i % 2 === 0;
      await g.admin("POST", "/feedback", {
        session_id: `w-${i}`,
        metric: "passed",
        value: i === 1 ? false : passed,
      });
      if (passed) sessionsPassed.push(`w-${i}`);
    }
    await g.admin("POST", "/feedback", { session_id: "w-1", metric: "passed", value: true });
    sessionsPassed.push("w-1");
    for (const id of routerCallsPassed)
      await g.admin("POST", "/feedback", { request_id: id, metric: "passed", value: true });

    // critic: an experiment between v1 (control) and v2 (treatment) by session.
    const exp = await g.admin<{ id: number }>("POST", "/experiments", {
      name: "critic-ft",
      system: "crm",
      agent: "critic",
      arms: [
        { name: "control", weight: 1, versions: { critic: 1 } },
        { name: "treatment", weight: 1, versions: { critic: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${exp.id}/start`, {});
    await routingSettled(g);
    for (let i = 0; i < 40; i++) await call("critic", user(`critic review ${i}`), `c-${i}`);
    await g.admin("POST", `/experiments/${exp.id}/stop`, {});
    await eventsFlushed(g);
  }, 60_000);
  afterAll(() => g?.close());

  it("per agent, OpenAI format: one file per agent, validated, de-duplicated, with a drop report", async () => {
    const d = await create({
      name: "per-agent",
      agents: ["crm/router", "crm/writer"],
      max_tokens_per_example: 200,
    });
    expect(d).toMatchObject({ mode: "per_agent", format: "openai", examples: 24 + 20 });
    expect(d.files.map((f) => [f.agent, f.examples])).toEqual([
      ["crm/router", 24],
      ["crm/writer", 20],
    ]);
    // writer: 20 distinct drafts + "writer draft 0" again twice and a whitespace variant of draft 1.
    expect(d.files[1]?.dropped).toEqual({
      duplicate: 3,
      bad_order: 1,
      empty_message: 1,
      non_text_content: 1,
      invalid_role: 1,
      oversized_message: 1,
      too_many_tokens: 1,
    });
    expect(d.files[0]?.dropped).toEqual({});
    expect(d.considered).toBe(24 + 29);
    expect(d.dropped).toEqual(d.files[1]?.dropped);
    expect(d.tokens.min).toBeGreaterThan(0);
    expect(d.tokens.max).toBeGreaterThanOrEqual(d.tokens.mean);
    expect(d.tokens.total).toBeGreaterThan(d.tokens.max);

    // Several files: the download names one; without it the answer says so.
    expect((await download(d.id)).status).toBe(400);
    const writer = await download(d.id, "crm/writer");
    expect(writer.status).toBe(200);
    expect(writer.headers.get("content-type")).toMatch(/^application\/jsonl/);
    expect(writer.headers.get("x-agentgate-sha256")).toBe(sha(writer.bytes));
    expect(d.files[1]?.sha256).toBe(sha(writer.bytes));
    expect(d.files[1]?.bytes).toBe(writer.bytes.length);
    const router = await download(d.id, "crm/router");
    expect(d.content_sha256).toBe(
      sha(Buffer.from(`${sha(router.bytes)}  crm/router.jsonl\n${sha(writer.bytes)}  crm/writer.jsonl\n`)),
    );

    expect(writer.lines).toHaveLength(20);
    for (const line of [...writer.lines, ...router.lines]) {
      expect(Object.keys(line)).toEqual(["messages"]);
      const messages = line.messages as Msg[];
      for (const m of messages) {
        expect(ROLES).toContain(m.role);
        expect(typeof m.content).toBe("string");
        expect((m.content as string).trim()).not.toBe("");
        if (m.role === "assistant") expect([0, 1]).toContain(m.weight);
        else expect(m).not.toHaveProperty("weight");
      }
      expect(messages.at(-1)).toMatchObject({ role: "assistant", weight: 1 });
      expect(messages.filter((m) => m.weight === 1)).toHaveLength(1);
    }
    // As served: writer v3's instructions and demo (not trained: weight 0) before the client's turn.
    expect(writer.lines[0]?.messages).toEqual([
      { role: "system", content: "Optimized writer." },
      { role: "user", content: "demo question" },
      { role: "assistant", content: "demo answer", weight: 0 },
      { role: "user", content: "writer draft 0" },
      { role: "assistant", content: "Echo from other-model: writer draft 0", weight: 1 },
    ]);
    const audit = await g.admin<{ data: { action: string; after: { id: number } }[] }>(
      "GET",
      "/audit?object=per-agent&action=dataset.create",
    );
    expect(audit.data[0]?.after.id).toBe(d.id);
  });

  it("prompt 'client' and 'served_without_demos', and no weights when asked", async () => {
    const client = await create({
      name: "writer-client",
      agents: ["crm/writer"],
      prompt: "client",
      weight_assistant: false,
      max_tokens_per_example: 200,
    });
    const c = await download(client.id);
    expect(c.lines[0]?.messages).toEqual([
      { role: "user", content: "writer draft 0" },
      { role: "assistant", content: "Echo from other-model: writer draft 0" },
    ]);
    // Without weights, the assistant prefill of w-bad-1 is still out of order; nothing has a weight.
    expect(c.bytes.toString()).not.toContain('"weight"');
    const noDemos = await create({
      name: "writer-no-demos",
      agents: ["crm/writer"],
      prompt: "served_without_demos",
      max_tokens_per_example: 200,
    });
    const n = await download(noDemos.id);
    expect(n.lines[3]?.messages).toEqual([
      { role: "system", content: "Optimized writer." },
      { role: "user", content: "writer draft 3" },
      { role: "assistant", content: "Echo from other-model: writer draft 3", weight: 1 },
    ]);
    expect(n.headers.get("x-agentgate-sha256")).toBe(noDemos.content_sha256);
    expect(sha(n.bytes)).toBe(noDemos.content_sha256);
  });

  it("TRL format: prompt-completion rows (loss on the completion), or messages without weighting", async () => {
    const d = await create({
      name: "writer-trl",
      agents: ["crm/writer"],
      format: "trl",
      max_tokens_per_example: 200,
    });
    const { lines, bytes } = await download(d.id);
    expect(lines).toHaveLength(20);
    expect(sha(bytes)).toBe(d.content_sha256);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(["completion", "prompt"]);
      const prompt = line.prompt as Msg[];
      const completion = line.completion as Msg[];
      expect(completion).toHaveLength(1);
      expect(completion[0]?.role).toBe("assistant");
      expect(prompt.at(-1)?.role).toBe("user");
      for (const m of [...prompt, ...completion]) {
        expect(ROLES).toContain(m.role);
        expect(m).not.toHaveProperty("weight");
      }
    }
    const lm = await create({
      name: "writer-trl-lm",
      agents: ["crm/writer"],
      format: "trl",
      weight_assistant: false,
      max_tokens_per_example: 200,
    });
    const rows = (await download(lm.id)).lines;
    expect(Object.keys(rows[0] ?? {})).toEqual(["messages"]);
    expect(((rows[0]?.messages ?? []) as Msg[]).map((m) => m.role)).toEqual([
      "system",
      "user",
      "assistant",
      "user",
      "assistant",
    ]);
  });

  it("filters by version and by time window", async () => {
    const v2 = await create({
      name: "router-v2",
      agents: ["crm/router"],
      filters: { versions: { "crm/router": [2] } },
    });
    expect(v2.examples).toBe(12);
    const v2lines = (await download(v2.id)).lines;
    for (const l of v2lines) expect(JSON.stringify(l)).toContain("Echo from ft-model: router task");

    const after = await create({ name: "router-after", agents: ["crm/router"], filters: { since: splitAt } });
    const afterText = (await download(after.id)).bytes.toString();
    expect(after.examples).toBe(12);
    expect(afterText).not.toContain("base-model");
    const before = await create({
      name: "router-before",
      agents: ["crm/router"],
      filters: { until: splitAt },
    });
    expect(before.examples).toBe(12);
    expect((await download(before.id)).bytes.toString()).not.toContain("ft-model");
  });

  it("filters by experiment arm", async () => {
    const events = await g.gw.dbHandle
      .db("inference_events")
      .where({ agent: "critic", arm: "treatment" })
      .count<{ n: number }[]>({ n: "*" });
    const treated = Number(events[0]?.n);
    expect(treated).toBeGreaterThanOrEqual(10);
    const d = await create({
      name: "critic-treatment",
      agents: ["crm/critic"],
      filters: { arms: ["treatment"] },
    });
    expect(d.examples).toBe(treated);
    const text = (await download(d.id)).bytes.toString();
    expect(text).not.toContain("base-model");
    expect(text.match(/Echo from ft-model/g)).toHaveLength(treated);
  });

  it("filters by feedback: only runs whose session feedback passed (latest value wins), or the call's own", async () => {
    const d = await create({
      name: "writer-passed",
      agents: ["crm/writer"],
      prompt: "client",
      filters: { feedback: { metric: "passed", equals: true } },
    });
    // Sessions 0, 2, ..., 18 and 1 (corrected to true); not the duplicate or invalid runs (no feedback).
    expect(sessionsPassed).toHaveLength(11);
    const text = (await download(d.id)).lines.map((l) => ((l.messages as Msg[])[0] as Msg).content).sort();
    expect(text).toEqual(sessionsPassed.map((s) => `writer draft ${s.slice(2)}`).sort());
    expect(d.examples).toBe(11);

    const short = await post({
      name: "writer-failed",
      agents: ["crm/writer"],
      filters: { feedback: { metric: "passed", equals: false } },
    });
    expect(short.status).toBe(422);
    expect(short.body.error.code).toBe("insufficient_examples");
    expect(short.body.error.message).toMatch(/crm\/writer has 9 valid examples of 9 captured calls/);

    const calls = await create({
      name: "router-call-feedback",
      agents: ["crm/router"],
      filters: { feedback: { metric: "passed", min: 1, level: "call" } },
    });
    expect(calls.examples).toBe(routerCallsPassed.length);
  });

  it("global: one file for several agents, each capped (most recent kept)", async () => {
    const d = await create({
      name: "global-capped",
      agents: ["crm/router", "crm/writer", "crm/critic"],
      mode: "global",
      per_agent_cap: 10,
      max_tokens_per_example: 200,
    });
    expect(d.files).toHaveLength(1);
    expect(d.files[0]?.agent).toBe("*");
    expect(d.examples).toBe(30);
    expect(d.dropped.over_cap).toBe(14 + 10 + 30);
    const { lines, bytes } = await download(d.id);
    expect(sha(bytes)).toBe(d.content_sha256);
    expect((await download(d.id, "crm/router")).status).toBe(400);
    const firstUser = lines.map(
      (l) =>
        ((l.messages as Msg[]).find((m) => m.role === "user" && !m.content?.startsWith("demo")) as Msg)
          .content as string,
    );
    const router = firstUser.filter((t) => t.startsWith("router task")).map((t) => Number(t.split(" ")[2]));
    expect(router.sort((a, b) => a - b)).toEqual([14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    expect(firstUser.filter((t) => t.startsWith("writer"))).toHaveLength(10);
    expect(firstUser.filter((t) => t.startsWith("critic"))).toHaveLength(10);
    expect(
      firstUser
        .filter((t) => t.startsWith("critic"))
        .map((t) => Number(t.split(" ")[2]))
        .sort((a, b) => a - b),
    ).toEqual([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it("refuses what cannot be built: too few examples, unknown agents and metrics, bad filters, a taken name", async () => {
    const future = await post({
      name: "empty",
      agents: ["crm/router"],
      filters: { since: "2999-01-01T00:00:00Z" },
    });
    expect(future.status).toBe(422);
    expect(future.body.error.message).toMatch(
      /at least 10 .*crm\/router has 0 valid examples of 0 captured calls/,
    );
    const cases: [Record<string, unknown>, number, string, RegExp][] = [
      [{ name: "x", agents: ["crm/nobody"] }, 404, "agent_not_found", /crm\/nobody/],
      [
        { name: "x", agents: ["crm/router"], filters: { feedback: { metric: "nope", equals: true } } },
        404,
        "metric_not_found",
        /nope/,
      ],
      [
        { name: "x", agents: ["crm/router"], filters: { feedback: { metric: "passed" } } },
        400,
        "invalid_request",
        /min, max or equals/,
      ],
      [
        { name: "x", agents: ["crm/router"], filters: { versions: { "crm/writer": [1] } } },
        400,
        "invalid_request",
        /not one of the dataset's agents/,
      ],
      [{ name: "x", agents: ["crm/router", "crm/router"] }, 400, "invalid_request", /twice/],
      [{ name: "x", agents: ["router"] }, 400, "invalid_request", /system\/agent/],
      [{ name: "x", agents: ["crm/router"], format: "alpaca" }, 400, "invalid_request", /openai, trl/],
      [
        { name: "x", agents: ["crm/router"], filters: { since: "yesterday" } },
        400,
        "invalid_request",
        /ISO 8601/,
      ],
      [
        { name: "x", agents: ["crm/router"], filters: { experiment: 999 } },
        404,
        "experiment_not_found",
        /999/,
      ],
      [{ name: "per-agent", agents: ["crm/router"] }, 409, "already_exists", /per-agent/],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await g.admin<{ data: Dataset[] }>("GET", "/datasets")).data.map((d) => d.name)).not.toContain(
      "x",
    );
  });

  it("lists and shows datasets; unknown ids are 404", async () => {
    const list = await g.admin<{ data: Dataset[] }>("GET", "/datasets");
    expect(list.data.length).toBeGreaterThanOrEqual(8);
    expect(list.data[0]?.id).toBeGreaterThan(list.data.at(-1)?.id ?? 0);
    const one = list.data.find((d) => d.name === "router-v2") as Dataset;
    expect(await g.admin("GET", `/datasets/${one.id}`)).toEqual(one);
    await g.admin("GET", "/datasets/99999", undefined, 404);
    await g.admin("GET", "/datasets/99999/download", undefined, 404);
  });
});
