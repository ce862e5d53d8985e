import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SseUsageTap } from "../../src/gateway/sse-usage.js";
import { resolveApiKey, UpstreamClient, type UpstreamTarget } from "../../src/gateway/upstream-client.js";
import { isFallbackEligible, toAppError, UpstreamError } from "../../src/gateway/upstream-errors.js";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";

const KEY = "sk-secret-test-key-123456";

describe("upstream client against the fake upstream", () => {
  let fake: FakeUpstream;
  let client: UpstreamClient;
  let target: UpstreamTarget;
  beforeAll(async () => {
    fake = await startFakeUpstream({ apiKey: KEY });
    client = new UpstreamClient();
    target = {
      name: "fake",
      baseUrl: fake.url,
      apiKey: KEY,
      timeoutMs: 2000,
      connectTimeoutMs: 1000,
      firstByteTimeoutMs: 1000,
    };
  });
  afterAll(async () => {
    await client.close();
    await fake.close();
  });

  const chat = (extra: object = {}) =>
    JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "ping pong" }], ...extra });

  /** Sends and returns the thrown UpstreamError (fails the test if the call succeeds). */
  async function failure(p: Promise<unknown>): Promise<UpstreamError> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UpstreamError);
    // Whatever failed, the key must not appear anywhere in the error, its cause included.
    expect(inspect(err, { depth: 6 })).not.toContain(KEY);
    return err as UpstreamError;
  }

  /** Reads a body to the end; returns the text, or the classified error. */
  async function drain(res: Awaited<ReturnType<UpstreamClient["send"]>>) {
    const parts: Buffer[] = [];
    try {
      for await (const c of res.body) parts.push(c as Buffer);
      return { text: Buffer.concat(parts).toString(), error: null };
    } catch (err) {
      return { text: Buffer.concat(parts).toString(), error: res.classify(err, parts.length > 0) };
    }
  }

  it("posts under the base URL's path with the key, and streams the JSON body back", async () => {
    const res = await client.send({
      upstream: target,
      path: "/chat/completions",
      body: chat(),
      headers: { Authorization: "Bearer client-key", Host: "evil", "X-Request-Id": "r1" },
      expect: "json",
    });
    expect(res.status).toBe(200);
    expect(res.headersAt).toBeGreaterThanOrEqual(res.startedAt);
    const { text } = await drain(res);
    expect(JSON.parse(text).choices[0].message.content).toBe("Echo from gpt-4o-mini: ping pong");
    const req = fake.requests.at(-1);
    expect(req?.path).toBe("/v1/chat/completions");
    expect(req?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req?.headers["x-request-id"]).toBe("r1");
    expect(req?.headers.host).toBe(new URL(fake.origin).host);
  });

  it("streams SSE through untouched", async () => {
    const res = await client.send({
      upstream: target,
      path: "/chat/completions",
      body: chat({ stream: true, stream_options: { include_usage: true } }),
      expect: "sse",
    });
    const tap = new SseUsageTap({ stripUsage: false });
    for await (const c of res.body) tap.push(c as Buffer);
    tap.end();
    expect(tap.summary).toMatchObject({ done: true, usage: { prompt_tokens: 2, completion_tokens: 5 } });
  });

  it("reuses keep-alive connections for sequential calls", async () => {
    const before = fake.requests.length;
    for (let i = 0; i < 8; i++) {
      const res = await client.send({ upstream: target, path: "/chat/completions", body: chat() });
      await drain(res);
    }
    // A call issued the instant the previous body ended may find that socket not yet released and
    // open a second one; what matters is that calls do not each open a connection.
    const ports = new Set(fake.requests.slice(before).map((r) => r.remotePort));
    expect(ports.size).toBeLessThanOrEqual(2);
    expect(client.poolCount).toBe(1);
  });

  it("sends GET requests without a body", async () => {
    const res = await client.send({ upstream: target, path: "/models", method: "GET", expect: "json" });
    expect(JSON.parse((await drain(res)).text).object).toBe("list");
  });

  it("classifies a refused connection as connect_error", async () => {
    const gone = await startFakeUpstream();
    await gone.close();
    const err = await failure(
      client.send({ upstream: { ...target, baseUrl: gone.url }, path: "/chat/completions", body: chat() }),
    );
    expect(err.errorClass).toBe("connect_error");
    expect(isFallbackEligible(err)).toBe(true);
    expect(toAppError(err).status).toBe(502);
  });

  it("classifies late headers as timeout_first_byte", async () => {
    const t0 = performance.now();
    const err = await failure(
      client.send({
        upstream: { ...target, firstByteTimeoutMs: 100 },
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "slow", "x-fake-delay-ms": "4000" },
      }),
    );
    expect(err.errorClass).toBe("timeout_first_byte");
    // undici's header timer has about 0.5 s resolution: well before the 4 s answer, not at 100 ms.
    expect(performance.now() - t0).toBeLessThan(2500);
    expect(toAppError(err).status).toBe(504);
  });

  it("classifies headers without a body as timeout_first_byte, a stalled body as timeout_idle", async () => {
    const slowBody = await client.send({
      upstream: { ...target, firstByteTimeoutMs: 100 },
      path: "/chat/completions",
      body: chat({ stream: true }),
      headers: { "x-fake-fault": "slow-first-byte", "x-fake-delay-ms": "4000" },
    });
    expect((await drain(slowBody)).error?.errorClass).toBe("timeout_first_byte");

    const stalled = await client.send({
      upstream: { ...target, firstByteTimeoutMs: 100 },
      path: "/chat/completions",
      body: chat({ stream: true }),
      headers: { "x-fake-fault": "stall", "x-fake-delay-ms": "4000" },
    });
    const { text, error } = await drain(stalled);
    expect(text).toContain("Echo");
    expect(error?.errorClass).toBe("timeout_idle");
  });

  it("cuts the call at the total deadline, before or during the body", async () => {
    const early = await failure(
      client.send({
        upstream: { ...target, timeoutMs: 150 },
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "slow", "x-fake-delay-ms": "800" },
      }),
    );
    expect(early.errorClass).toBe("timeout_total");

    const res = await client.send({
      upstream: { ...target, timeoutMs: 150 },
      path: "/chat/completions",
      body: chat({ stream: true }),
      headers: { "x-fake-chunk-delay-ms": "60" },
    });
    const { text, error } = await drain(res);
    expect(text).toContain("data:");
    expect(error?.errorClass).toBe("timeout_total");
  });

  it("classifies a reset before any byte, and a truncated stream, as reset", async () => {
    const err = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "reset" },
      }),
    );
    expect(err.errorClass).toBe("reset");

    const res = await client.send({
      upstream: target,
      path: "/chat/completions",
      body: chat({ stream: true }),
      headers: { "x-fake-fault": "truncate" },
    });
    const tap = new SseUsageTap({ stripUsage: false });
    let error: UpstreamError | null = null;
    try {
      for await (const c of res.body) tap.push(c as Buffer);
    } catch (e) {
      error = res.classify(e, true);
    }
    expect(error?.errorClass).toBe("reset");
    expect(tap.summary.done).toBe(false);
  });

  it("turns 5xx and 4xx answers into errors carrying the upstream's error object", async () => {
    const e503 = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "503" },
      }),
    );
    expect(e503).toMatchObject({
      errorClass: "upstream_5xx",
      status: 503,
      upstreamError: { type: "server_error" },
    });
    expect(isFallbackEligible(e503)).toBe(true);
    expect(toAppError(e503)).toMatchObject({ status: 502, code: "upstream_error" });

    const e429 = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "429" },
      }),
    );
    expect(e429).toMatchObject({ errorClass: "upstream_4xx", status: 429, retryAfter: "1" });
    expect(e429.upstreamError?.code).toBe("rate_limit_exceeded");
    expect(toAppError(e429)).toMatchObject({ status: 429, code: "rate_limited" });

    const e400 = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "400" },
      }),
    );
    expect(isFallbackEligible(e400)).toBe(false);
    expect(toAppError(e400)).toMatchObject({
      status: 400,
      code: "invalid_request",
      message: "Fake client error 400.",
    });
  });

  it("does not echo the upstream's message for errors about the gateway's own account", async () => {
    const wrongKey = await failure(
      client.send({ upstream: { ...target, apiKey: "sk-wrong" }, path: "/chat/completions", body: chat() }),
    );
    expect(wrongKey).toMatchObject({ errorClass: "upstream_4xx", status: 401 });
    expect(isFallbackEligible(wrongKey)).toBe(true);
    const app = toAppError(wrongKey);
    expect(app).toMatchObject({ status: 502, code: "upstream_error" });
    expect(app.message).not.toMatch(/API key/);
  });

  it("classifies a non-OpenAI answer as malformed", async () => {
    const html = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "html" },
        expect: "json",
      }),
    );
    expect(html).toMatchObject({ errorClass: "malformed", status: 200 });
    const notSse = await failure(
      client.send({ upstream: target, path: "/chat/completions", body: chat(), expect: "sse" }),
    );
    expect(notSse.errorClass).toBe("malformed");
  });

  it("abandons a body without an unhandled error", async () => {
    const res = await client.send({
      upstream: target,
      path: "/chat/completions",
      body: chat({ stream: true }),
    });
    res.abandon();
    await new Promise((r) => setTimeout(r, 20));
    expect(res.body.destroyed).toBe(true);
  });

  it("classifies the caller's cancellation as aborted", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await failure(
      client.send({
        upstream: target,
        path: "/chat/completions",
        body: chat(),
        headers: { "x-fake-fault": "slow", "x-fake-delay-ms": "1000" },
        signal: ac.signal,
      }),
    );
    expect(err.errorClass).toBe("aborted");
    expect(isFallbackEligible(err)).toBe(false);
  });

  it("closes its pools and opens new ones on demand", async () => {
    const own = new UpstreamClient();
    await drain(await own.send({ upstream: target, path: "/chat/completions", body: chat() }));
    expect(own.poolCount).toBe(1);
    await own.close();
    expect(own.poolCount).toBe(0);
    await drain(await own.send({ upstream: target, path: "/chat/completions", body: chat() }));
    expect(own.poolCount).toBe(1);
    await own.destroy();
  });
});

describe("resolveApiKey", () => {
  it("reads the named variable at call time, treating empty as absent", () => {
    const env = { OPENAI_KEY: "sk-1", EMPTY: "" };
    expect(resolveApiKey("OPENAI_KEY", env)).toBe("sk-1");
    expect(resolveApiKey("EMPTY", env)).toBeNull();
    expect(resolveApiKey("MISSING", env)).toBeNull();
    expect(resolveApiKey(null, env)).toBeNull();
  });
});
