/**
 * The building blocks put together as a bare-bones proxy (no routing, no events), driven by the
 * official openai SDK: it checks that a stripped stream is still a stream the SDK accepts, and that
 * usage and cost come out of both answer shapes.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorBody } from "../../src/errors.js";
import { JsonUsageTap } from "../../src/gateway/json-usage.js";
import { buildPriceTable, costUsd } from "../../src/gateway/pricing.js";
import { pumpSse } from "../../src/gateway/sse-pump.js";
import { SseUsageTap } from "../../src/gateway/sse-usage.js";
import { UpstreamClient } from "../../src/gateway/upstream-client.js";
import { classifyError, toAppError } from "../../src/gateway/upstream-errors.js";
import type { Usage } from "../../src/gateway/usage.js";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";

type Seen = { usage: Usage | null; done?: boolean; usageStripped?: boolean };

describe("building blocks as a minimal proxy, through the openai SDK", () => {
  let fake: FakeUpstream;
  let proxy: Server;
  let sdk: OpenAI;
  const upstreamClient = new UpstreamClient();
  const seen: Seen[] = [];

  beforeAll(async () => {
    fake = await startFakeUpstream();
    const upstream = {
      name: "fake",
      baseUrl: fake.url,
      apiKey: "sk-upstream",
      timeoutMs: 5000,
      connectTimeoutMs: 1000,
      firstByteTimeoutMs: 2000,
    };
    proxy = createServer(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(parts).toString());
      const stream = body.stream === true;
      const clientWantsUsage = body.stream_options?.include_usage === true;
      if (stream) body.stream_options = { ...body.stream_options, include_usage: true };
      try {
        const up = await upstreamClient.send({
          upstream,
          path: "/chat/completions",
          body: JSON.stringify(body),
          headers: { "x-fake-fault": String(req.headers["x-fake-fault"] ?? "") },
          expect: stream ? "sse" : "json",
        });
        res.writeHead(up.status, { "content-type": String(up.headers["content-type"]) });
        if (stream) {
          const tap = new SseUsageTap({ stripUsage: !clientWantsUsage });
          await pumpSse(up.body, tap, res);
          res.end();
          seen.push(tap.summary);
        } else {
          const tap = new JsonUsageTap();
          for await (const c of up.body) {
            tap.push(c as Buffer);
            res.write(c);
          }
          res.end();
          seen.push(tap.finish());
        }
      } catch (err) {
        const e = toAppError(classifyError(err));
        res.writeHead(e.status, { "content-type": "application/json" });
        res.end(JSON.stringify(errorBody(e)));
      }
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const { port } = proxy.address() as AddressInfo;
    sdk = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "client-key", maxRetries: 0 });
  });
  afterAll(async () => {
    await new Promise((r) => proxy.close(r));
    await upstreamClient.close();
    await fake.close();
  });

  it("hides the usage chunk from a streaming client that did not ask, yet measures it", async () => {
    const stream = await sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "tell me more" }],
      stream: true,
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(
      "Echo from gpt-4o-mini: tell me more",
    );
    expect(chunks.every((c) => c.choices.length === 1 && !c.usage)).toBe(true);
    // The upstream was asked for usage anyway, and the tap read it.
    expect(fake.requests.at(-1)?.body).toMatchObject({ stream_options: { include_usage: true } });
    const summary = seen.at(-1);
    expect(summary).toMatchObject({
      done: true,
      usageStripped: true,
      usage: { prompt_tokens: 3, completion_tokens: 6 },
    });
    const cost = costUsd(summary?.usage ?? null, buildPriceTable().lookup("gpt-4o-mini"));
    expect(cost).toBeCloseTo((3 * 0.15 + 6 * 0.6) / 1e6, 15);
  });

  it("keeps the usage chunk for a streaming client that asked for it", async () => {
    const stream = await sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "x" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 4 });
    expect(seen.at(-1)).toMatchObject({ usageStripped: false, usage: { prompt_tokens: 1 } });
  });

  it("measures a non-streaming answer while passing it through", async () => {
    const res = await sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "a b" }],
    });
    expect(res.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });
    expect(seen.at(-1)).toMatchObject({ usage: { prompt_tokens: 2, completion_tokens: 5 } });
  });

  it("answers upstream failures with OpenAI-shaped 502 and 504 errors", async () => {
    const err = await sdk.chat.completions
      .create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] },
        { headers: { "x-fake-fault": "500" } },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 502, code: "upstream_error" });
    const reset = await sdk.chat.completions
      .create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] },
        { headers: { "x-fake-fault": "reset" } },
      )
      .catch((e: unknown) => e);
    expect(reset).toMatchObject({ status: 502 });
  });
});
