/**
 * The official `openai` Python SDK (PyPI) through agentgate: tests/interop/py/openai_sdk.py makes
 * the calls an agent developer makes — streaming and not, the agent named by `model` or by an
 * `X-Agent` default header, the session per request, the response headers read from raw
 * responses, `/v1/models` — and the failures they must handle. Here we check what the SDK saw
 * (classes, statuses, codes, bodies) and what agentgate recorded for each call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { eventOf, type InteropGateway, seedClientAgents, startInteropGateway } from "./gateway.js";
import { interopPython, runPython } from "./python.js";

type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };
type PyError = {
  class: string;
  bases: string[];
  status: number | null;
  code: string | null;
  type: string | null;
  body: Record<string, unknown> | null;
  message: string;
  request_id: string | null;
};
type Outcome<T> = { ok: T; error?: undefined } | { ok?: undefined; error: PyError };
type Headers = Record<string, string>;
type Result = {
  non_streaming: Outcome<{ status: number; headers: Headers; content: string; model: string; usage: Usage }>;
  agent_header_client: Outcome<{ headers: Headers; content: string }>;
  streaming: Outcome<{ headers: Headers; text: string; usage: Usage | null; chunks: number }>;
  models: Outcome<string[]>;
  unknown_agent: Outcome<never>;
  no_agent: Outcome<never>;
  bad_key: Outcome<never>;
  upstream_5xx: Outcome<never>;
  upstream_timeout: Outcome<never>;
  truncated_stream: Outcome<string> & { status?: number; headers?: Headers; text_before_error?: string };
  openai_version: string;
};

const SYSTEM = "pyclient";
const SESSION = "py-run-1";

function ok<T>(o: Outcome<T>, what: string): T {
  expect(o.error, `${what} raised ${JSON.stringify(o.error)}`).toBeUndefined();
  return o.ok as T;
}

/** The SDK raised `cls` (an APIStatusError) with agentgate's OpenAI-shaped body. */
function statusError(o: Outcome<never>, cls: string, status: number, code: string): PyError {
  expect(o.ok, "the call should have failed").toBeUndefined();
  const e = o.error as PyError;
  expect(e.class).toBe(cls);
  expect(e.bases).toContain("APIStatusError");
  expect(e.status).toBe(status);
  expect(e.code).toBe(code);
  expect(Object.keys(e.body ?? {}).sort()).toEqual(["code", "message", "param", "type"]);
  expect(e.message).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  expect(e.request_id).toMatch(/^[0-9a-f-]{36}$/);
  return e;
}

describe.each(backends())("openai Python SDK through agentgate on %s", (backend) => {
  let g: InteropGateway;
  let r: Result;

  beforeAll(async () => {
    g = await startInteropGateway(backend);
    await seedClientAgents(g, SYSTEM);
    ({ result: r } = await runPython<Result>("openai_sdk.py", {
      env: { ...g.pyEnv, AGENTGATE_SYSTEM: SYSTEM, AGENTGATE_SESSION: SESSION },
    }));
  });
  afterAll(() => g?.close());

  it("runs on openai 2.x", () => {
    expect(r.openai_version).toMatch(/^2\./);
  });

  it("non-streaming: answer, usage, agentgate's response headers, and the event with the session", async () => {
    const res = ok(r.non_streaming, "non_streaming");
    expect(res.status).toBe(200);
    expect(res.content).toBe("Echo from base-model: hello from python");
    expect(res.model).toBe("base-model");
    expect(res.usage.total_tokens).toBe(res.usage.prompt_tokens + res.usage.completion_tokens);
    expect(res.usage.completion_tokens).toBeGreaterThan(0);
    expect(res.headers["x-agentgate-route"]).toBe("champion");
    expect(res.headers["x-agentgate-version"]).toBe("1");
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({
      agent: "writer",
      session_id: SESSION,
      status: 200,
      stream: false,
      served_model: "base-model",
      prompt_tokens: res.usage.prompt_tokens,
      completion_tokens: res.usage.completion_tokens,
    });
  });

  it("an X-Agent default header on the client names the agent; the client's model is ignored", async () => {
    const res = ok(r.agent_header_client, "agent_header_client");
    expect(res.content).toBe("Echo from base-model: hello from python");
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({ agent: "writer", session_id: SESSION, served_model: "base-model" });
    expect(g.fake.requests.some((q) => (q.body as { model?: string })?.model === "gpt-4o-mini")).toBe(false);
  });

  it("streaming: the text, the usage chunk asked for, the headers, and a stream event", async () => {
    const res = ok(r.streaming, "streaming");
    expect(res.text).toBe("Echo from base-model: stream it please");
    expect(res.usage?.total_tokens).toBeGreaterThan(0);
    expect(res.chunks).toBeGreaterThan(3);
    expect(res.headers["x-agentgate-route"]).toBe("champion");
    const ev = await eventOf(g, res.headers["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({
      agent: "writer",
      stream: true,
      status: 200,
      prompt_tokens: res.usage?.prompt_tokens,
      completion_tokens: res.usage?.completion_tokens,
    });
  });

  it("/v1/models lists every agent as agent:system/agent", () => {
    expect(ok(r.models, "models")).toEqual(
      ["broken", "slow", "truncated", "writer"].map((a) => `agent:${SYSTEM}/${a}`),
    );
  });

  it("unknown agent → NotFoundError, code agent_not_found", () => {
    const e = statusError(r.unknown_agent, "NotFoundError", 404, "agent_not_found");
    expect(e.body?.message).toContain(`${SYSTEM}/nobody`);
  });

  it("no agent named → BadRequestError on param model, saying how to name it", () => {
    const e = statusError(r.no_agent, "BadRequestError", 400, "invalid_request");
    expect(e.body?.param).toBe("model");
    expect(e.body?.message).toContain("X-Agent");
  });

  it("a key that is not a proxy token → AuthenticationError", () => {
    statusError(r.bad_key, "AuthenticationError", 401, "invalid_token");
  });

  it("upstream 5xx → 502 InternalServerError (code upstream_error), recorded as such", async () => {
    const e = statusError(r.upstream_5xx, "InternalServerError", 502, "upstream_error");
    expect(e.type).toBe("upstream_error");
    const ev = await eventOf(g, e.request_id as string);
    expect(ev).toMatchObject({ agent: "broken", status: 502, session_id: SESSION });
    expect(ev.error_class).not.toBeNull();
  });

  it("upstream silent past its first-byte timeout → 504 InternalServerError (code upstream_timeout)", async () => {
    const e = statusError(r.upstream_timeout, "InternalServerError", 504, "upstream_timeout");
    const ev = await eventOf(g, e.request_id as string);
    expect(ev).toMatchObject({ agent: "slow", status: 504 });
  });

  it("a stream cut short upstream → the SDK raises APIError from agentgate's error event", async () => {
    const res = r.truncated_stream;
    expect(res.ok).toBeUndefined();
    expect(res.status).toBe(200);
    const e = res.error as PyError;
    expect(e.class).toBe("APIError");
    expect(e.code).toBe("upstream_error");
    expect(Object.keys(e.body ?? {}).sort()).toEqual(["code", "message", "param", "type"]);
    expect(e.message).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    // What arrived before the cut was the start of the real answer.
    expect(res.text_before_error?.length).toBeGreaterThan(0);
    expect(
      "Echo from cut-model: a long answer that will be cut".startsWith(res.text_before_error ?? ""),
    ).toBe(true);
    const ev = await eventOf(g, res.headers?.["x-agentgate-request-id"] as string);
    expect(ev).toMatchObject({ agent: "truncated", stream: true });
    expect(ev.error_class).not.toBeNull();
  });
});

describe("the interop venv", () => {
  it("a missing venv fails the suite with how to make it, instead of skipping", () => {
    expect(() => interopPython("/nonexistent/.venv-interop")).toThrow(
      /scripts\/python-venv\.sh \.venv-interop tests\/interop\/requirements\.txt/,
    );
  });
});
