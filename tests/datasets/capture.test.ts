/**
 * Per-agent capture of calls through the real gateway (openai SDK → agentgate → fake upstream):
 * only opted-in agents are captured; redaction by path and by pattern; the byte cap; streamed
 * answers put back together; retention; the settings API's validation and audit; captures spooled
 * with their events while the database is down.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import knex from "knex";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRecorder, type InferenceEvent } from "../../src/events/recorder.js";
import { createMetrics } from "../../src/metrics.js";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";

type CaptureRow = {
  request_id: string;
  agent: string;
  version: number | null;
  messages: Record<string, unknown>[];
  tools: unknown[] | null;
  response: Record<string, unknown>;
  truncated: boolean;
  bytes: number;
  at: Date;
};

const CAPTURE = (agent: string) => `/systems/shop/agents/${agent}/capture`;

describe.each(backends())("capture on %s", (backend) => {
  let g: Gateway;
  const db = () => g.gw.dbHandle.db;
  const captureOf = async (id: string): Promise<CaptureRow | undefined> =>
    db()("captures").where({ request_id: id }).first();

  async function call(
    agent: string,
    messages: Record<string, unknown>[],
    opts: { stream?: boolean; session?: string } = {},
  ): Promise<{ id: string; text: string }> {
    const headers = { "X-Agent": `shop/${agent}`, ...(opts.session ? { "X-Session-Id": opts.session } : {}) };
    if (opts.stream) {
      const { data: stream, response } = await g
        .client()
        .chat.completions.create({ model: "x", messages: messages as never, stream: true }, { headers })
        .withResponse();
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      return { id: response.headers.get("x-agentgate-request-id") as string, text };
    }
    const { data, response } = await g
      .client()
      .chat.completions.create({ model: "x", messages: messages as never }, { headers })
      .withResponse();
    return {
      id: response.headers.get("x-agentgate-request-id") as string,
      text: data.choices[0]?.message.content ?? "",
    };
  }

  beforeAll(async () => {
    g = await startGateway(backend, { AGENTGATE_CAPTURE_CLEANUP_MS: "0" });
    await seedSystem(g, "shop", ["planner", "writer", "silent", "big"]);
    await g.admin("PUT", CAPTURE("planner"), {
      enabled: true,
      redact_paths: ["messages[*].name", "$.messages[?(@.role=='system')].content"],
      redact_patterns: ["\\d{4}-\\d{4}-\\d{4}-\\d{4}", "(?i)api[_-]?key=\\w+"],
    });
    await g.admin("PUT", CAPTURE("writer"), { enabled: true, retention_days: 7 });
    await g.admin("PUT", CAPTURE("big"), { enabled: true, max_bytes: 1024 });
    await routingSettled(g);
  });
  afterAll(() => g?.close());

  it("captures opted-in agents only, with the client's messages and the answer", async () => {
    const captured = await call("writer", [{ role: "user", content: "write a haiku" }]);
    const silent = await call("silent", [{ role: "user", content: "not kept" }]);
    await eventsFlushed(g);
    const row = await captureOf(captured.id);
    expect(row).toMatchObject({
      agent: "writer",
      version: 1,
      truncated: false,
      tools: null,
      messages: [{ role: "user", content: "write a haiku" }],
      response: { role: "assistant", content: captured.text },
    });
    expect(captured.text).toBe("Echo from base-model: write a haiku");
    expect(row?.bytes).toBe(
      Buffer.byteLength(JSON.stringify({ messages: row?.messages, tools: null, response: row?.response })),
    );
    // The event of the silent agent is stored; no capture is.
    expect(await db()("inference_events").where({ request_id: silent.id }).first()).toBeDefined();
    expect(await captureOf(silent.id)).toBeUndefined();
    const [{ n }] = (await db()("captures").where({ agent: "silent" }).count({ n: "*" })) as [{ n: unknown }];
    expect(Number(n)).toBe(0);
  });

  it("turning capture off stops capturing at once (routing table reload), and keeps what was stored", async () => {
    const before = await call("writer", [{ role: "user", content: "one" }]);
    await g.admin("PUT", CAPTURE("writer"), { enabled: false, retention_days: 7 });
    await routingSettled(g);
    const after = await call("writer", [{ role: "user", content: "two" }]);
    await eventsFlushed(g);
    expect(await captureOf(before.id)).toBeDefined();
    expect(await captureOf(after.id)).toBeUndefined();
    const view = await g.admin<{ enabled: boolean; stored: number; retention_days: number }>(
      "GET",
      CAPTURE("writer"),
    );
    expect(view).toMatchObject({ enabled: false, retention_days: 7 });
    expect(view.stored).toBeGreaterThanOrEqual(2);
    await g.admin("PUT", CAPTURE("writer"), { enabled: true, retention_days: 7 });
    await routingSettled(g);
  });

  it("redacts by path (names, system messages) and by pattern (in messages and in the answer)", async () => {
    const r = await call("planner", [
      { role: "system", content: "You are the planner. Internal token: zeta" },
      { role: "user", name: "alice", content: "card 4111-1111-1111-1111 and API_KEY=abc123 please" },
    ]);
    // The client got the unredacted answer: redaction is for what is stored.
    expect(r.text).toBe("Echo from base-model: card 4111-1111-1111-1111 and API_KEY=abc123 please");
    await eventsFlushed(g);
    const row = await captureOf(r.id);
    expect(row?.messages).toEqual([
      { role: "system", content: "[REDACTED]" },
      { role: "user", name: "[REDACTED]", content: "card [REDACTED] and [REDACTED] please" },
    ]);
    expect(row?.response.content).toBe("Echo from base-model: card [REDACTED] and [REDACTED] please");
    expect(JSON.stringify(row)).not.toMatch(/4111|abc123|alice|zeta/);
  });

  it("cuts a capture at the agent's byte cap and flags it truncated", async () => {
    const small = await call("big", [{ role: "user", content: "short" }]);
    const large = await call("big", [
      { role: "system", content: "s".repeat(600) },
      { role: "user", content: "x".repeat(5000) },
    ]);
    await eventsFlushed(g);
    const ok = await captureOf(small.id);
    expect(ok?.truncated).toBe(false);
    const cut = await captureOf(large.id);
    expect(cut?.truncated).toBe(true);
    expect(cut?.bytes).toBeLessThanOrEqual(1024);
    expect(
      Buffer.byteLength(
        JSON.stringify({ messages: cut?.messages, tools: cut?.tools, response: cut?.response }),
      ),
    ).toBeLessThanOrEqual(1024);
    // The client's answer was not affected.
    expect(large.text.length).toBeGreaterThan(5000);
  });

  it("puts streamed answers back together from their deltas, within the cap", async () => {
    const r = await call("planner", [{ role: "user", content: "stream me a few words please" }], {
      stream: true,
    });
    const longer = await call("big", [{ role: "user", content: "y ".repeat(800) }], { stream: true });
    await eventsFlushed(g);
    const row = await captureOf(r.id);
    expect(r.text).toBe("Echo from base-model: stream me a few words please");
    expect(row).toMatchObject({ truncated: false, response: { role: "assistant", content: r.text } });
    const cut = await captureOf(longer.id);
    expect(longer.text.length).toBeGreaterThan(1600);
    expect(cut?.truncated).toBe(true);
    expect(cut?.bytes).toBeLessThanOrEqual(1024);
    expect(longer.text.startsWith(String(cut?.response.content).slice(0, 100))).toBe(true);
  });

  it("does not capture failed calls", async () => {
    g.fake.setFault("base-model", { fault: "500", times: 1 });
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: g.auth, "content-type": "application/json", "x-agent": "shop/writer" },
      body: JSON.stringify({ model: "x", messages: [{ role: "user", content: "fail" }] }),
    });
    expect(res.status).toBe(502);
    const id = res.headers.get("x-agentgate-request-id") as string;
    await eventsFlushed(g);
    expect(await db()("inference_events").where({ request_id: id }).first()).toBeDefined();
    expect(await captureOf(id)).toBeUndefined();
  });

  it("retention: the cleanup job deletes only captures older than their agent's retention", async () => {
    const p1 = await call("planner", [{ role: "user", content: "planner ten days ago" }]);
    const p2 = await call("planner", [{ role: "user", content: "planner forty days ago" }]);
    const w1 = await call("writer", [{ role: "user", content: "writer ten days ago" }]);
    const w2 = await call("writer", [{ role: "user", content: "writer today" }]);
    await eventsFlushed(g);
    const age = (id: string, days: number) =>
      db()("captures")
        .where({ request_id: id })
        .update({ at: new Date(Date.now() - days * 86_400_000) });
    await age(p1.id, 10);
    await age(p2.id, 40);
    await age(w1.id, 10);
    const deleted = await g.gw.captureCleaner.run();
    expect(deleted).toBe(2);
    expect(await captureOf(p1.id)).toBeDefined(); // planner keeps 30 days
    expect(await captureOf(p2.id)).toBeUndefined();
    expect(await captureOf(w1.id)).toBeUndefined(); // writer keeps 7 days
    expect(await captureOf(w2.id)).toBeDefined();
    // Events are not touched by capture retention.
    expect(await db()("inference_events").where({ request_id: w1.id }).first()).toBeDefined();
    expect(await g.gw.captureCleaner.run()).toBe(0);
  });

  it("validates settings: paths, patterns (compile, catastrophic, empty match), sizes; audits changes", async () => {
    const put = async (body: unknown) => {
      const res = await fetch(`${g.url}/api/v1${CAPTURE("silent")}`, {
        method: "PUT",
        headers: { authorization: g.auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return {
        status: res.status,
        body: (await res.json()) as { error: { message: string; param: string } },
      };
    };
    const cases: [unknown, string, RegExp][] = [
      [{ enabled: true, redact_patterns: ["(unclosed"] }, "redact_patterns.0", /does not compile/],
      [{ enabled: true, redact_patterns: ["ok", "(a+)+$"] }, "redact_patterns.1", /catastrophically/],
      [{ enabled: true, redact_patterns: ["(\\w*\\s?)*x"] }, "redact_patterns.0", /catastrophically/],
      [{ enabled: true, redact_patterns: ["a*"] }, "redact_patterns.0", /empty string/],
      [{ enabled: true, redact_patterns: ["x".repeat(257)] }, "redact_patterns.0", /at most 256/],
      [{ enabled: true, redact_paths: ["messages["] }, "redact_paths.0", /unexpected/],
      [{ enabled: true, redact_paths: ["$"] }, "redact_paths.0", /select something/],
      [{ enabled: true, max_bytes: 10 }, "max_bytes", /at least 1024/],
      [{ enabled: true, retention_days: 0 }, "retention_days", /at least 1/],
      [{ retention_days: 3 }, "enabled", /true or false/],
    ];
    for (const [body, param, message] of cases) {
      const r = await put(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
      expect(r.body.error.message).toMatch(message);
    }
    const ok = await put({
      enabled: true,
      redact_paths: ["messages[-1].content", "response.tool_calls[*].function.arguments", "tools"],
      redact_patterns: ["(?:\\d{3}-){2}\\d{4}"],
      reason: "pii review",
    });
    expect(ok.status).toBe(200);
    const audit = await g.admin<{ data: { action: string; reason: string; after: { enabled: boolean } }[] }>(
      "GET",
      "/audit?object=shop/silent&action=capture.set",
    );
    expect(audit.data[0]).toMatchObject({
      action: "capture.set",
      reason: "pii review",
      after: { enabled: true },
    });
    // Nothing of the refused attempts was stored.
    expect(audit.data).toHaveLength(1);
    await put({ enabled: false });
  });
});

describe("captures survive a database outage with their events (spool and replay)", () => {
  let g: Gateway;
  let spoolDir: string;
  beforeAll(async () => {
    g = await startGateway("pglite", { AGENTGATE_CAPTURE_CLEANUP_MS: "0" });
    await seedSystem(g, "shop", ["planner"]);
    spoolDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-spool-"));
  });
  afterAll(async () => {
    await g?.close();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it("spools the event with its capture while the database is unreachable, and replays both", async () => {
    const agent = await g.gw.dbHandle.db("agents").where({ name: "planner" }).first("id");
    const event: InferenceEvent = {
      request_id: "spooled-capture-1",
      at: new Date().toISOString(),
      system: "shop",
      agent: "planner",
      agent_id: agent.id,
      route: "champion",
      experiment_id: null,
      arm: null,
      assigned_version: 1,
      served_version: 1,
      served_model: "base-model",
      upstream: "fake",
      fallback: false,
      stream: false,
      status: 200,
      error_class: null,
      session_id: "s-1",
      user_id: null,
      unit_key: null,
      latency_ms: 1,
      upstream_ms: 1,
      ttft_ms: null,
      prompt_tokens: 1,
      completion_tokens: 1,
      cached_tokens: null,
      cost_usd: null,
      capture: {
        version: 1,
        messages: [{ role: "user", content: "kept through the outage" }],
        tools: null,
        response: { role: "assistant", content: "yes" },
        truncated: false,
        bytes: 10,
      },
    };
    const log = pino({ level: "silent" });
    // A database nobody listens on: every write fails, so the batch goes to the spool.
    const quiet = () => {};
    const down = knex({
      client: "pg",
      connection: "postgres://nobody@127.0.0.1:1/none",
      pool: { min: 0, max: 1 },
      log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet },
    });
    const broken = new EventRecorder(down, { spoolDir, retryAfterMs: 60_000 }, createMetrics(), log);
    broken.record(event);
    await broken.flush();
    await down.destroy();
    const lines = readdirSync(spoolDir).flatMap((f) =>
      readFileSync(path.join(spoolDir, f), "utf8").trim().split("\n"),
    );
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string).capture.messages[0].content).toBe("kept through the outage");

    const healthy = new EventRecorder(g.gw.dbHandle.db, { spoolDir }, createMetrics(), log);
    await healthy.replay();
    expect(readdirSync(spoolDir)).toEqual([]);
    const row = await g.gw.dbHandle.db("captures").where({ request_id: "spooled-capture-1" }).first();
    expect(row).toMatchObject({ agent: "planner", response: { content: "yes" } });
    expect(
      await g.gw.dbHandle.db("inference_events").where({ request_id: "spooled-capture-1" }).first(),
    ).toBeDefined();
  });
});
