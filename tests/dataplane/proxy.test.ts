import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";

type Body = Record<string, unknown> & { messages: { role: string; content: string }[] };
const lastUpstreamBody = (g: Gateway) => g.fake.requests.at(-1)?.body as Body;

describe.each(backends())("data plane on %s", (backend) => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway(backend);
    await seedSystem(g, "support", ["coordinator", "writer"]);
    // writer v3: a prompt override and params, to check how a version is applied
    await g.admin("POST", "/systems/support/agents/writer/versions", {
      kind: "base_optimized",
      upstream: "fake",
      model: "other-model",
      prompt: {
        system: "Optimized instructions.",
        mode: "replace",
        demos: [
          { role: "user", content: "demo question" },
          { role: "assistant", content: "demo answer" },
        ],
      },
      params: { temperature: 0.1 },
    });
    await g.admin("PUT", "/systems/support/agents/writer/aliases/champion", { version: 3 });
    await routingSettled(g);
  });
  afterAll(() => g?.close());

  it("serves a non-streamed call through the champion with the route headers and records its event", async () => {
    const { data, response } = await g
      .client()
      .chat.completions.create(
        { model: "agent:support/coordinator", messages: [{ role: "user", content: "hello" }] },
        { headers: { "X-Session-Id": "run-1" } },
      )
      .withResponse();
    expect(data.choices[0]?.message.content).toBe("Echo from base-model: hello");
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-agentgate-route")).toBe("champion");
    expect(response.headers.get("x-agentgate-version")).toBe("1");
    expect(response.headers.get("x-agentgate-experiment")).toBeNull();
    const id = response.headers.get("x-agentgate-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    await eventsFlushed(g);
    const ev = await g.admin<Record<string, unknown>>("GET", `/requests/${id}`);
    expect(ev).toMatchObject({
      system: "support",
      agent: "coordinator",
      route: "champion",
      served_version: 1,
      served_model: "base-model",
      status: 200,
      error_class: null,
      session_id: "run-1",
      stream: false,
      prompt_tokens: data.usage?.prompt_tokens,
      completion_tokens: data.usage?.completion_tokens,
    });
    expect(ev.latency_ms as number).toBeGreaterThan(0);
  });

  it("passes an answer over the 8 MiB hold cap through unparsed, and records it without usage", async () => {
    const content = "x".repeat(8.5 * 1024 * 1024);
    const { data, response } = await g
      .client()
      .chat.completions.create({ model: "agent:support/coordinator", messages: [{ role: "user", content }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe(`Echo from base-model: ${content}`);
    expect(response.headers.get("content-length")).toBeNull(); // streamed on, not held
    await eventsFlushed(g);
    const ev = await g.admin<Record<string, unknown>>(
      "GET",
      `/requests/${response.headers.get("x-agentgate-request-id")}`,
    );
    expect(ev).toMatchObject({ status: 200, served_version: 1, prompt_tokens: null, error_class: null });
    expect(ev.upstream_ms as number).toBeGreaterThan(0);
  });

  it("applies the version's model, prompt override and params, and passes everything else through", async () => {
    await g.client().chat.completions.create(
      {
        model: "ignored-by-agent-header",
        messages: [
          { role: "system", content: "client instructions" },
          { role: "user", content: "write it" },
        ],
        temperature: 0.9,
        seed: 7,
        tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
        response_format: { type: "text" },
      },
      { headers: { "X-Agent": "support/writer" } },
    );
    const body = lastUpstreamBody(g);
    expect(body.model).toBe("other-model");
    expect(body.temperature).toBe(0.1);
    expect(body.seed).toBe(7);
    expect(body.response_format).toEqual({ type: "text" });
    expect((body.tools as unknown[]).length).toBe(1);
    expect(body.messages.map((m) => [m.role, m.content])).toEqual([
      ["system", "Optimized instructions."],
      ["user", "demo question"],
      ["assistant", "demo answer"],
      ["user", "write it"],
    ]);
  });

  it("streams through the SDK and strips the usage chunk only when the client did not ask for it", async () => {
    const plain = await g.client().chat.completions.create({
      model: "agent:support/coordinator",
      messages: [{ role: "user", content: "stream please" }],
      stream: true,
    });
    let text = "";
    let sawUsage = false;
    for await (const chunk of plain) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) sawUsage = true;
    }
    expect(text).toBe("Echo from base-model: stream please");
    expect(sawUsage).toBe(false);
    expect((lastUpstreamBody(g).stream_options as { include_usage: boolean }).include_usage).toBe(true);

    const withUsage = await g.client().chat.completions.create({
      model: "agent:support/coordinator",
      messages: [{ role: "user", content: "count me" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: unknown = null;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
  });

  it("records usage and time to first token for streamed calls", async () => {
    const { response, data: stream } = await g
      .client()
      .chat.completions.create({
        model: "agent:support/coordinator",
        messages: [{ role: "user", content: "a b c" }],
        stream: true,
      })
      .withResponse();
    for await (const _ of stream) {
      // drain
    }
    await eventsFlushed(g);
    const ev = await g.admin<Record<string, number | boolean | null>>(
      "GET",
      `/requests/${response.headers.get("x-agentgate-request-id")}`,
    );
    expect(ev.stream).toBe(true);
    expect(ev.completion_tokens).toBeGreaterThan(0);
    expect(ev.ttft_ms).toBeGreaterThan(0);
    expect(ev.ttft_ms as number).toBeLessThanOrEqual(ev.latency_ms as number);
  });

  it("routes a pin above the champion and returns to the champion on unpin", async () => {
    await g.admin("PUT", "/systems/support/agents/coordinator/pin", { version: 2, reason: "test" });
    await routingSettled(g);
    const pinned = await g
      .client()
      .chat.completions.create({
        model: "agent:support/coordinator",
        messages: [{ role: "user", content: "x" }],
      })
      .withResponse();
    expect(pinned.response.headers.get("x-agentgate-route")).toBe("pinned");
    expect(pinned.data.model).toBe("ft-model");
    await g.admin("DELETE", "/systems/support/agents/coordinator/pin");
    await routingSettled(g);
    const back = await g
      .client()
      .chat.completions.create({
        model: "agent:support/coordinator",
        messages: [{ role: "user", content: "x" }],
      })
      .withResponse();
    expect(back.response.headers.get("x-agentgate-route")).toBe("champion");
  });

  it("lists agents as models", async () => {
    const models = await g.client().models.list();
    expect(models.data.map((m) => m.id)).toEqual(["agent:support/coordinator", "agent:support/writer"]);
  });

  it("answers bad calls with OpenAI-shaped errors and records an event for each", async () => {
    const c = g.client();
    const cases: [() => Promise<unknown>, number, string][] = [
      [
        () =>
          c.chat.completions.create({
            model: "agent:support/nobody",
            messages: [{ role: "user", content: "x" }],
          }),
        404,
        "agent_not_found",
      ],
      [
        () => c.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
        400,
        "invalid_request",
      ],
      [
        () => c.chat.completions.create({ model: "agent:support/writer", messages: [] }),
        400,
        "invalid_request",
      ],
      [
        () =>
          g.client("not-a-key").chat.completions.create({
            model: "agent:support/writer",
            messages: [{ role: "user", content: "x" }],
          }),
        401,
        "invalid_token",
      ],
    ];
    for (const [call, status, code] of cases) {
      const err = (await call().then(
        () => null,
        (e) => e,
      )) as { status: number; code: string; error: { message: string; type: string } } | null;
      expect(err, code).not.toBeNull();
      expect(err?.status).toBe(status);
      expect(err?.code).toBe(code);
      expect(err?.error.message).toBeTruthy();
    }
    const malformed = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: g.auth, "content-type": "application/json", "x-agent": "support/writer" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
    expect(malformed.headers.get("x-agentgate-request-id")).toBeTruthy();
  });

  it("accepts proxy-scope keys and refuses keys without the proxy scope", async () => {
    const proxy = await g.admin<{ token: string }>("POST", "/tokens", {
      name: "agents-key",
      scopes: ["proxy"],
    });
    const read = await g.admin<{ token: string }>("POST", "/tokens", { name: "reader", scopes: ["read"] });
    await routingSettled(g);
    const ok = await g
      .client(proxy.token)
      .chat.completions.create({ model: "agent:support/writer", messages: [{ role: "user", content: "x" }] });
    expect(ok.choices[0]?.message.content).toContain("other-model");
    const refused = await g
      .client(read.token)
      .chat.completions.create({ model: "agent:support/writer", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(refused.status).toBe(401);
    await g.admin("DELETE", "/tokens/agents-key");
    await routingSettled(g);
    const revoked = await g
      .client(proxy.token)
      .chat.completions.create({ model: "agent:support/writer", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(revoked.status).toBe(401);
  });

  it("refuses an agent with no routable version", async () => {
    await g.admin("POST", "/systems/support/agents", { name: "empty" });
    await routingSettled(g);
    const err = await g
      .client()
      .chat.completions.create({ model: "agent:support/empty", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err.status).toBe(409);
    expect(err.code).toBe("no_routable_version");
  });
});

describe("data plane with proxy auth off", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway("pglite", { AGENTGATE_PROXY_AUTH: "off", AGENTGATE_MAX_BODY_BYTES: "4096" });
    await seedSystem(g, "solo", ["agent"]);
  });
  afterAll(() => g?.close());

  it("serves calls without any key", async () => {
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-agent": "solo/agent" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe("Echo from base-model: hi");
  });
});

describe("data plane body limit", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway("pglite", { AGENTGATE_PROXY_AUTH: "off", AGENTGATE_MAX_BODY_BYTES: "4096" });
    await seedSystem(g, "solo", ["agent"]);
  });
  afterAll(() => g?.close());

  const big = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(10_000) }] });

  it("answers 413 to a body announced too large, and to one that turns out too large while streaming in", async () => {
    const announced = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-agent": "solo/agent" },
      body: big,
    });
    expect(announced.status).toBe(413);
    expect(((await announced.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");

    // No content-length: the limit is found while reading, and the 413 still reaches the client.
    const chunked = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-agent": "solo/agent" },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    // The connection stays usable for the next call.
    const ok = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-agent": "solo/agent" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    expect(ok.status).toBe(200);
  });
});

describe("routing table age", () => {
  it("is exported at scrape time and resets when the table is rebuilt", async () => {
    const g = await startGateway("pglite");
    try {
      const age = async () => {
        const text = await (await fetch(`${g.url}/metrics`)).text();
        const line = text.split("\n").find((l) => l.startsWith("agentgate_routing_table_age_seconds "));
        return Number(line?.split(" ")[1]);
      };
      await new Promise((r) => setTimeout(r, 300));
      const before = await age();
      expect(before).toBeGreaterThanOrEqual(0.25);
      await g.gw.routing.reload();
      expect(await age()).toBeLessThan(before);
    } finally {
      await g.close();
    }
  });
});
