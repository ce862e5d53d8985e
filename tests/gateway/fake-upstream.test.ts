/**
 * The fake upstream must speak the real format: these tests talk to it with the official openai
 * SDK, so a format mistake in the fake shows up here rather than as a puzzling gateway failure.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";

describe("fake upstream, through the openai SDK", () => {
  let fake: FakeUpstream;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeUpstream({ apiKey: "sk-fake" });
    client = new OpenAI({ baseURL: fake.url, apiKey: "sk-fake", maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it("answers a chat completion with deterministic content and usage", async () => {
    const res = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
    });
    expect(res.object).toBe("chat.completion");
    expect(res.model).toBe("gpt-4o-mini");
    expect(res.choices[0]?.message.content).toBe("Echo from gpt-4o-mini: hello there");
    expect(res.choices[0]?.finish_reason).toBe("stop");
    // 4 prompt words, 5 completion words.
    expect(res.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    const recorded = fake.requests.at(-1);
    expect(recorded?.headers.authorization).toBe("Bearer sk-fake");
    expect(recorded?.body).toMatchObject({ model: "gpt-4o-mini" });
  });

  it("streams chunks, and a usage-only final chunk when include_usage is set", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "one two three" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("Echo from gpt-4o: one two three");
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it("streams without any usage chunk when include_usage is not set", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true);
  });

  it("honours max_tokens with finish_reason length", async () => {
    const res = await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "a b c d e" }],
      max_tokens: 2,
    });
    expect(res.choices[0]?.message.content).toBe("Echo from");
    expect(res.choices[0]?.finish_reason).toBe("length");
    expect(res.usage?.completion_tokens).toBe(2);
  });

  it("lists models", async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]);
  });

  it("rejects a wrong key with an OpenAI-shaped 401", async () => {
    const bad = new OpenAI({ baseURL: fake.url, apiKey: "sk-wrong", maxRetries: 0 });
    const err = await bad.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("invalid_api_key");
  });

  it("injects 5xx and 429 that the SDK sees as API errors", async () => {
    const withFault = (fault: string) =>
      client.chat.completions
        .create(
          { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
          { headers: { "x-fake-fault": fault } },
        )
        .catch((e: unknown) => e);
    const e503 = await withFault("503");
    expect(e503).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e503 as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((e503 as InstanceType<typeof OpenAI.APIError>).type).toBe("server_error");
    const e429 = await withFault("429");
    expect(e429).toBeInstanceOf(OpenAI.RateLimitError);
    expect((e429 as InstanceType<typeof OpenAI.APIError>).code).toBe("rate_limit_exceeded");
    expect((e429 as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after")).toBe("1");
  });

  it("injects resets, malformed JSON and truncated streams that the SDK fails on", async () => {
    const reset = await client.chat.completions
      .create(
        { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
        { headers: { "x-fake-fault": "reset" } },
      )
      .catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(OpenAI.APIConnectionError);

    const malformed = await client.chat.completions
      .create(
        { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
        { headers: { "x-fake-fault": "malformed" } },
      )
      .catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(Error);
    expect(String(malformed)).toMatch(/JSON/);

    const stream = await client.chat.completions.create(
      { model: "gpt-4o", messages: [{ role: "user", content: "a b c d e f" }], stream: true },
      { headers: { "x-fake-fault": "truncate" } },
    );
    const seen: string[] = [];
    const truncated = await (async () => {
      for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? "");
    })().catch((e: unknown) => e);
    expect(truncated).toBeInstanceOf(Error);
    // Three events made it before the socket died: role, "Echo", " from".
    expect(seen).toEqual(["", "Echo", " from"]);
  });

  it("applies per-model faults a limited number of times", async () => {
    fake.setFault("gpt-4.1-mini", { fault: "500", times: 1 });
    const first = await client.chat.completions
      .create({ model: "gpt-4.1-mini", messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(OpenAI.InternalServerError);
    // Other models are unaffected, and the fault is used up after one request.
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    ).resolves.toMatchObject({ object: "chat.completion" });
    await expect(
      client.chat.completions.create({ model: "gpt-4.1-mini", messages: [{ role: "user", content: "x" }] }),
    ).resolves.toMatchObject({ model: "gpt-4.1-mini" });
  });

  it("delays headers by the configured latency", async () => {
    const t0 = performance.now();
    await client.chat.completions.create(
      { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
      { headers: { "x-fake-latency-ms": "120" } },
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });
});
