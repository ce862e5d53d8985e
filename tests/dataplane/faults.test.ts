/**
 * Upstream faults through the openai SDK, as the acceptance test asks: 5xx, 429, resets,
 * malformed and truncated answers, HTML pages, first-byte timeouts and refused connections.
 *   (a) on a champion route the client gets a clear, OpenAI-shaped error with the right status
 *       (502, 504, 429) — or, for a stream that breaks after it started, an error while iterating;
 *   (b) on an experimental route whose arm fails before the first byte, the champion answers
 *       (`x-agentgate-route: fallback`), the event keeps the assigned arm and the version that
 *       served; not when the experiment turned fallback off;
 *   (c) after every fault the gateway serves a normal call;
 *   (d) every faulty call has its event, with its status and error class.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign } from "../../src/gateway/assignment.js";
import type { FaultName } from "../fakes/fake-upstream.js";
import { backends } from "../helpers/databases.js";
import { eventsFlushed, type Gateway, routingSettled, startGateway } from "../helpers/dataplane.js";
import { freePort } from "../helpers/gateway-process.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { metricSum } from "../helpers/metrics.js";

const SYSTEM = "faulty";
/** Small enough to keep the suite fast, far below the fake's delay. */
const FIRST_BYTE_TIMEOUT_MS = 300;
const SLOW_MS = 2_000;

type Experiment = { id: number; salt: string; arms: { name: string; weight: number }[] };
type Event = Record<string, unknown>;
type SdkError = {
  status?: number;
  code?: string;
  type?: string;
  error?: Record<string, unknown>;
  headers?: Headers;
  message: string;
};
type Outcome =
  | {
      ok: true;
      requestId: string;
      route: string | null;
      version: string | null;
      arm: string | null;
      model: string;
    }
  | { ok: false; requestId: string | null; err: SdkError; midStream: boolean };

/** The first session id whose unit key lands in `arm` (assignment is public: salt + weights). */
function sessionIn(exp: Experiment, arm: string): string {
  const weights = exp.arms.map((a) => a.weight);
  for (let i = 0; ; i++) {
    const session = `${arm}-run-${i}`;
    if (exp.arms[assign(exp.salt, `session:${session}`, weights).arm]?.name === arm) return session;
  }
}

describe.each(backends())("upstream faults on %s", (backend) => {
  let g: Gateway;
  let sdk: OpenAI;
  let withFallback: Experiment;
  let noFallback: Experiment;

  const version = (agent: string, upstream: string, model: string) =>
    g.admin("POST", `/systems/${SYSTEM}/agents/${agent}/versions`, { kind: "fine_tuned", upstream, model });

  /** One call through the SDK, streamed or not, reduced to what the client saw. */
  const call = async (agent: string, stream: boolean, session?: string): Promise<Outcome> => {
    const params = {
      model: `agent:${SYSTEM}/${agent}`,
      messages: [{ role: "user" as const, content: "go" }],
    };
    const opts = { headers: session ? { "X-Session-Id": session } : {} };
    let headers: Headers | undefined;
    try {
      if (!stream) {
        const { data, response } = await sdk.chat.completions.create(params, opts).withResponse();
        headers = response.headers;
        return {
          ok: true,
          requestId: headers.get("x-agentgate-request-id") ?? "",
          route: headers.get("x-agentgate-route"),
          version: headers.get("x-agentgate-version"),
          arm: headers.get("x-agentgate-arm"),
          model: data.model,
        };
      }
      const { data, response } = await sdk.chat.completions
        .create({ ...params, stream: true }, opts)
        .withResponse();
      headers = response.headers;
      let model = "";
      let text = "";
      try {
        for await (const chunk of data) {
          model = chunk.model;
          text += chunk.choices[0]?.delta?.content ?? "";
        }
      } catch (err) {
        return {
          ok: false,
          requestId: headers.get("x-agentgate-request-id"),
          err: err as SdkError,
          midStream: true,
        };
      }
      expect(text).toBe(`Echo from ${model}: go`);
      return {
        ok: true,
        requestId: headers.get("x-agentgate-request-id") ?? "",
        route: headers.get("x-agentgate-route"),
        version: headers.get("x-agentgate-version"),
        arm: headers.get("x-agentgate-arm"),
        model,
      };
    } catch (err) {
      const e = err as SdkError;
      return {
        ok: false,
        requestId: e.headers?.get("x-agentgate-request-id") ?? null,
        err: e,
        midStream: false,
      };
    }
  };

  const eventOf = async (requestId: string | null): Promise<Event> => {
    expect(requestId, "the answer carries x-agentgate-request-id").toMatch(/^[0-9a-f-]{36}$/);
    await eventsFlushed(g);
    return g.admin<Event>("GET", `/requests/${requestId}`);
  };

  const metric = (name: string, labels: Record<string, string>) => metricSum(g.url, name, labels);

  beforeAll(async () => {
    g = await startGateway(backend);
    // As g.client(), without the SDK's own log line when it meets the malformed stream event.
    sdk = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: ADMIN_TOKEN, maxRetries: 0, logLevel: "off" });
    await g.admin("POST", "/upstreams", {
      name: "fake-fbt",
      base_url: g.fake.url,
      first_byte_timeout_ms: FIRST_BYTE_TIMEOUT_MS,
      timeout_ms: 5_000,
    });
    await g.admin("POST", "/upstreams", {
      name: "closed-port",
      base_url: `http://127.0.0.1:${await freePort()}/v1`,
      connect_timeout_ms: 1_000,
    });
    await g.admin("POST", "/systems", { name: SYSTEM, topology: "hierarchical" });
    for (const agent of ["champ", "slowchamp", "deadchamp", "exp", "nofb"]) {
      await g.admin("POST", `/systems/${SYSTEM}/agents`, { name: agent });
    }
    // Champion-only agents: version 1, each on its own model or upstream.
    await version("champ", "fake", "champ-model");
    await version("slowchamp", "fake-fbt", "slowchamp-model");
    await version("deadchamp", "closed-port", "dead-model");
    // exp: champion v1, and one arm per kind of failing upstream.
    await version("exp", "fake", "exp-champion");
    await version("exp", "fake", "exp-arm");
    await version("exp", "fake-fbt", "exp-arm-slow");
    await version("exp", "closed-port", "exp-arm-dead");
    withFallback = await g.admin<Experiment>("POST", "/experiments", {
      name: "exp-faults",
      system: SYSTEM,
      agent: "exp",
      arms: [
        { name: "control", weight: 1, versions: { exp: 1 } },
        { name: "treatment", weight: 1, versions: { exp: 2 } },
        { name: "slow", weight: 1, versions: { exp: 3 } },
        { name: "dead", weight: 1, versions: { exp: 4 } },
      ],
    });
    await g.admin("POST", `/experiments/${withFallback.id}/start`);
    await version("nofb", "fake", "nofb-champion");
    await version("nofb", "fake", "nofb-arm");
    noFallback = await g.admin<Experiment>("POST", "/experiments", {
      name: "nofb-faults",
      system: SYSTEM,
      agent: "nofb",
      fallback_to_champion: false,
      arms: [
        { name: "control", weight: 1, versions: { nofb: 1 } },
        { name: "treatment", weight: 1, versions: { nofb: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${noFallback.id}/start`);
    await routingSettled(g);
  });
  afterAll(() => g?.close());

  // [what, agent, model to fault, fault, stream, status, code, error class]
  const championCases: [string, string, string, FaultName, boolean, number, string, string][] = [
    ["500", "champ", "champ-model", "500", false, 502, "upstream_error", "upstream_5xx"],
    ["503", "champ", "champ-model", "503", false, 502, "upstream_error", "upstream_5xx"],
    ["500 on a stream", "champ", "champ-model", "500", true, 502, "upstream_error", "upstream_5xx"],
    ["429", "champ", "champ-model", "429", false, 429, "rate_limited", "upstream_4xx"],
    ["429 on a stream", "champ", "champ-model", "429", true, 429, "rate_limited", "upstream_4xx"],
    ["connection reset", "champ", "champ-model", "reset", false, 502, "upstream_error", "reset"],
    ["connection reset on a stream", "champ", "champ-model", "reset", true, 502, "upstream_error", "reset"],
    ["malformed JSON", "champ", "champ-model", "malformed", false, 502, "upstream_error", "malformed"],
    ["truncated JSON", "champ", "champ-model", "truncate", false, 502, "upstream_error", "reset"],
    ["HTML page", "champ", "champ-model", "html", false, 502, "upstream_error", "malformed"],
    ["HTML page on a stream", "champ", "champ-model", "html", true, 502, "upstream_error", "malformed"],
    [
      "no headers in time",
      "slowchamp",
      "slowchamp-model",
      "slow",
      false,
      504,
      "upstream_timeout",
      "timeout_first_byte",
    ],
    [
      "no body in time",
      "slowchamp",
      "slowchamp-model",
      "slow-first-byte",
      false,
      504,
      "upstream_timeout",
      "timeout_first_byte",
    ],
    [
      "no first chunk in time on a stream",
      "slowchamp",
      "slowchamp-model",
      "slow-first-byte",
      true,
      504,
      "upstream_timeout",
      "timeout_first_byte",
    ],
  ];

  it.each(championCases)(
    "champion route, %s: a clear error, its event, then a normal call",
    async (_what, agent, model, fault, stream, status, code, errorClass) => {
      const errorsBefore = await metric("agentgate_upstream_errors_total", {
        agent,
        error_class: errorClass,
      });
      g.fake.setFault(model, { fault, delayMs: SLOW_MS, times: 1 });
      const out = await call(agent, stream);
      expect(out.ok).toBe(false);
      if (out.ok) return;
      expect(out.midStream).toBe(false);
      expect(out.err.status).toBe(status);
      expect(out.err.code).toBe(code);
      expect(Object.keys(out.err.error ?? {}).sort()).toEqual(["code", "message", "param", "type"]);
      expect(out.err.error?.message).toEqual(expect.any(String));
      expect(out.err.headers?.get("x-agentgate-route")).toBe("champion");
      expect(await eventOf(out.requestId)).toMatchObject({
        route: "champion",
        status,
        error_class: errorClass,
        fallback: false,
        stream,
      });
      // One failed attempt, counted once.
      expect(await metric("agentgate_upstream_errors_total", { agent, error_class: errorClass })).toBe(
        errorsBefore + 1,
      );
      const after = await call(agent, stream);
      expect(after).toMatchObject({ ok: true, route: "champion", version: "1" });
    },
  );

  it.each([
    ["truncated", "truncate", "reset"],
    ["with a malformed event", "malformed", "malformed"],
  ] as const)(
    "champion route, a stream %s after it started: the SDK raises while iterating, and the event says so",
    async (_what, fault, errorClass) => {
      g.fake.setFault("champ-model", { fault, times: 1 });
      const out = await call("champ", true);
      expect(out.ok).toBe(false);
      if (out.ok) return;
      expect(out.midStream).toBe(true);
      expect(out.err.message).toBeTruthy();
      expect(await eventOf(out.requestId)).toMatchObject({
        status: 502,
        error_class: errorClass,
        stream: true,
      });
      expect(await call("champ", true)).toMatchObject({ ok: true, route: "champion" });
    },
  );

  it.each([false, true])(
    "champion route, connection refused (stream: %s): 502 upstream_error and its event",
    async (stream) => {
      const out = await call("deadchamp", stream);
      expect(out.ok).toBe(false);
      if (out.ok) return;
      expect(out.err.status).toBe(502);
      expect(out.err.code).toBe("upstream_error");
      expect(await eventOf(out.requestId)).toMatchObject({
        status: 502,
        error_class: "connect_error",
        served_version: null,
      });
    },
  );

  // [what, arm, model to fault (null: the arm's upstream refuses connections), fault, stream, error class]
  const fallbackCases: [string, string, string | null, FaultName | null, boolean, string][] = [
    ["500", "treatment", "exp-arm", "500", false, "upstream_5xx"],
    ["503", "treatment", "exp-arm", "503", false, "upstream_5xx"],
    ["503 on a stream", "treatment", "exp-arm", "503", true, "upstream_5xx"],
    ["429", "treatment", "exp-arm", "429", false, "upstream_4xx"],
    ["connection reset", "treatment", "exp-arm", "reset", false, "reset"],
    ["connection reset on a stream", "treatment", "exp-arm", "reset", true, "reset"],
    ["malformed JSON", "treatment", "exp-arm", "malformed", false, "malformed"],
    ["truncated JSON", "treatment", "exp-arm", "truncate", false, "reset"],
    ["HTML page", "treatment", "exp-arm", "html", false, "malformed"],
    ["HTML page on a stream", "treatment", "exp-arm", "html", true, "malformed"],
    ["no headers in time", "slow", "exp-arm-slow", "slow", false, "timeout_first_byte"],
    ["no body in time", "slow", "exp-arm-slow", "slow-first-byte", false, "timeout_first_byte"],
    [
      "no first chunk in time on a stream",
      "slow",
      "exp-arm-slow",
      "slow-first-byte",
      true,
      "timeout_first_byte",
    ],
    ["connection refused", "dead", null, null, false, "connect_error"],
    ["connection refused on a stream", "dead", null, null, true, "connect_error"],
  ];

  it.each(fallbackCases)(
    "experimental route, %s before the first byte: the champion answers, flagged as a fallback",
    async (_what, arm, model, fault, stream, errorClass) => {
      const session = sessionIn(withFallback, arm);
      const assigned = { treatment: 2, slow: 3, dead: 4 }[arm];
      const errorsBefore = await metric("agentgate_upstream_errors_total", {
        agent: "exp",
        error_class: errorClass,
      });
      const fallbacksBefore = await metric("agentgate_fallbacks_total", { agent: "exp", arm });
      if (model && fault) g.fake.setFault(model, { fault, delayMs: SLOW_MS, times: 1 });

      const out = await call("exp", stream, session);
      expect(out).toMatchObject({ ok: true, route: "fallback", version: "1", arm, model: "exp-champion" });
      if (!out.ok) return;
      expect(await eventOf(out.requestId)).toMatchObject({
        route: "fallback",
        fallback: true,
        experiment_id: withFallback.id,
        arm,
        assigned_version: assigned,
        served_version: 1,
        served_model: "exp-champion",
        status: 200,
        session_id: session,
        stream,
      });
      expect(await metric("agentgate_upstream_errors_total", { agent: "exp", error_class: errorClass })).toBe(
        errorsBefore + 1,
      );
      expect(await metric("agentgate_fallbacks_total", { agent: "exp", arm })).toBe(fallbacksBefore + 1);

      if (model) {
        const after = await call("exp", stream, session);
        expect(after).toMatchObject({ ok: true, route: "experiment", arm, version: String(assigned) });
      }
    },
  );

  it("experimental route, a stream that breaks after it started: no fallback, the SDK raises while iterating", async () => {
    g.fake.setFault("exp-arm", { fault: "truncate", times: 1 });
    const out = await call("exp", true, sessionIn(withFallback, "treatment"));
    expect(out).toMatchObject({ ok: false, midStream: true });
    if (out.ok) return;
    expect(await eventOf(out.requestId)).toMatchObject({
      route: "experiment",
      fallback: false,
      arm: "treatment",
      status: 502,
      error_class: "reset",
    });
  });

  it("experimental route, the client's own mistake (upstream 400): no fallback, the 400 reaches the client", async () => {
    g.fake.setFault("exp-arm", { fault: "400", times: 1 });
    const out = await call("exp", false, sessionIn(withFallback, "treatment"));
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect([out.err.status, out.err.code]).toEqual([400, "invalid_request"]);
    expect(out.err.headers?.get("x-agentgate-route")).toBe("experiment");
    expect(await eventOf(out.requestId)).toMatchObject({
      fallback: false,
      status: 400,
      error_class: "upstream_4xx",
    });
  });

  it("experimental route, the champion fails too: a clear 502, the event keeps both versions", async () => {
    g.fake.setFault("exp-arm", { fault: "503", times: 1 });
    g.fake.setFault("exp-champion", { fault: "500", times: 1 });
    const out = await call("exp", false, sessionIn(withFallback, "treatment"));
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect([out.err.status, out.err.code]).toEqual([502, "upstream_error"]);
    expect(out.err.headers?.get("x-agentgate-route")).toBe("fallback");
    expect(await eventOf(out.requestId)).toMatchObject({
      route: "fallback",
      fallback: true,
      arm: "treatment",
      assigned_version: 2,
      status: 502,
      error_class: "upstream_5xx",
    });
  });

  it.each([false, true])(
    "experiment with fallback_to_champion false (stream: %s): the arm's failure reaches the client",
    async (stream) => {
      const session = sessionIn(noFallback, "treatment");
      g.fake.setFault("nofb-arm", { fault: "503", times: 1 });
      const out = await call("nofb", stream, session);
      expect(out.ok).toBe(false);
      if (out.ok) return;
      expect([out.err.status, out.err.code]).toEqual([502, "upstream_error"]);
      expect(out.err.headers?.get("x-agentgate-route")).toBe("experiment");
      expect(out.err.headers?.get("x-agentgate-arm")).toBe("treatment");
      expect(await eventOf(out.requestId)).toMatchObject({
        route: "experiment",
        fallback: false,
        arm: "treatment",
        assigned_version: 2,
        status: 502,
        error_class: "upstream_5xx",
      });
      expect(await call("nofb", stream, session)).toMatchObject({
        ok: true,
        route: "experiment",
        arm: "treatment",
      });
    },
  );

  it("is still healthy and serving after all of it", async () => {
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
    expect(await call("champ", false)).toMatchObject({ ok: true, route: "champion", model: "champ-model" });
    expect(await call("champ", true)).toMatchObject({ ok: true, route: "champion", model: "champ-model" });
  });
});
