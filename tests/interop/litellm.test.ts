/**
 * LiteLLM (PyPI, its Python SDK) as an agent's client with agentgate as its OpenAI-compatible
 * base: `litellm.completion(model="openai/agent:system/agent", api_base=..., api_key=...,
 * extra_headers=...)`, streaming and not (tests/interop/py/litellm_client.py). Checked: answers,
 * usage, agentgate's headers as LiteLLM keeps them, one event per call (LiteLLM's retries off),
 * and agentgate's errors as LiteLLM's exception classes, with agentgate's message kept.
 *
 * PGlite only: nothing here depends on the database beyond the events the other interop suites
 * already check on PostgreSQL, and LiteLLM's import alone costs seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsFlushed } from "../helpers/dataplane.js";
import { eventOf, type InteropGateway, seedClientAgents, startInteropGateway } from "./gateway.js";
import { runPython } from "./python.js";

type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };
type PyError = {
  class: string;
  module: string;
  bases: string[];
  status: number | null;
  message: string;
  request_id: string | null;
};
type Outcome<T> = { ok: T; error?: undefined } | { ok?: undefined; error: PyError };
type Headers = Record<string, string>;
type Result = {
  litellm_version: string;
  non_streaming: Outcome<{ content: string; usage: Usage; headers: Headers }>;
  agent_in_header: Outcome<{ content: string; headers: Headers }>;
  streaming: Outcome<{ text: string; usage: Usage | null; headers: Headers }>;
  unknown_agent: Outcome<never>;
  bad_key: Outcome<never>;
  upstream_5xx: Outcome<never>;
  upstream_timeout: Outcome<never>;
  truncated_stream: Outcome<string> & { text_before_error?: string };
};

const SYSTEM = "viallm";
const SESSION = "litellm-run-1";

function ok<T>(o: Outcome<T>, what: string): T {
  expect(o.error, `${what} raised ${JSON.stringify(o.error)}`).toBeUndefined();
  return o.ok as T;
}

/** LiteLLM raised `cls` (from litellm.exceptions) with `status`, keeping agentgate's message. */
function litellmError(o: { ok?: unknown; error?: PyError }, cls: string, status: number, message: string) {
  expect(o.ok, "the call should have failed").toBeUndefined();
  const e = o.error as PyError;
  expect(e.module).toBe("litellm.exceptions");
  expect(e.class).toBe(cls);
  expect(e.status).toBe(status);
  expect(e.message).toContain(message);
  expect(e.message).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  return e;
}

describe("LiteLLM through agentgate on pglite", () => {
  let g: InteropGateway;
  let r: Result;

  beforeAll(async () => {
    g = await startInteropGateway("pglite");
    await seedClientAgents(g, SYSTEM);
    ({ result: r } = await runPython<Result>("litellm_client.py", {
      env: { ...g.pyEnv, AGENTGATE_SYSTEM: SYSTEM, AGENTGATE_SESSION: SESSION },
    }));
    await eventsFlushed(g);
  });
  afterAll(() => g?.close());

  it("runs on LiteLLM 1.x", () => {
    expect(r.litellm_version).toMatch(/^1\./);
  });

  it("non-streaming with model openai/agent:system/agent: answer, usage, headers, event", async () => {
    const res = ok(r.non_streaming, "non_streaming");
    expect(res.content).toBe("Echo from base-model: hello from litellm");
    expect(res.usage.total_tokens).toBe(res.usage.prompt_tokens + res.usage.completion_tokens);
    expect(res.headers["x-agentgate-route"]).toBe("champion");
    expect(res.headers["x-agentgate-version"]).toBe("1");
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({
      agent: "writer",
      session_id: SESSION,
      stream: false,
      prompt_tokens: res.usage.prompt_tokens,
      completion_tokens: res.usage.completion_tokens,
    });
  });

  it("the agent in an X-Agent extra header works the same", async () => {
    const res = ok(r.agent_in_header, "agent_in_header");
    expect(res.content).toBe("Echo from base-model: hello from litellm");
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({ agent: "writer", session_id: SESSION });
  });

  it("streaming: text, usage, headers on the stream wrapper, a stream event", async () => {
    const res = ok(r.streaming, "streaming");
    expect(res.text).toBe("Echo from base-model: stream it please");
    expect(res.usage?.total_tokens).toBeGreaterThan(0);
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({
      agent: "writer",
      stream: true,
      completion_tokens: res.usage?.completion_tokens,
    });
  });

  it("errors map to LiteLLM's classes: 404 NotFoundError, 401 AuthenticationError", () => {
    litellmError(r.unknown_agent, "NotFoundError", 404, `unknown agent '${SYSTEM}/nobody'`);
    litellmError(r.bad_key, "AuthenticationError", 401, "lacks the 'proxy' scope");
  });

  it("upstream 5xx → BadGatewayError (502); upstream timeout → litellm.Timeout (504)", async () => {
    const bad = litellmError(r.upstream_5xx, "BadGatewayError", 502, "upstream failed with status 500");
    expect(bad.bases).toContain("APIStatusError");
    const slow = litellmError(r.upstream_timeout, "Timeout", 504, "first-byte timeout");
    expect((await eventOf(g, bad.request_id as string)).status).toBe(502);
    expect((await eventOf(g, slow.request_id as string)).status).toBe(504);
  });

  it("a stream cut short upstream → MidStreamFallbackError carrying agentgate's error event", () => {
    const e = litellmError(r.truncated_stream, "MidStreamFallbackError", 500, "upstream connection closed");
    expect(e.bases).toContain("ServiceUnavailableError");
    expect(r.truncated_stream.text_before_error?.length).toBeGreaterThan(0);
  });

  it("one call each: LiteLLM did not retry behind the caller's back", () => {
    const upstreamModels = g.fake.requests.map((q) => (q.body as { model?: string } | null)?.model);
    for (const model of ["broken-model", "slow-model", "cut-model"]) {
      expect(
        upstreamModels.filter((m) => m === model),
        model,
      ).toHaveLength(1);
    }
    expect(upstreamModels.filter((m) => m === "base-model")).toHaveLength(3);
  });
});
