/**
 * Declared metrics and feedback: metrics are declared (and built-in names reserved); feedback is
 * posted for real calls and workflow runs made through the gateway, right after the call (before
 * the call's event would have been written by its batch), is
 * idempotent on a key, and every bad request gets a precise 4xx. Experiments may only name known
 * metrics.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";

const BUILT_INS = [
  "error_rate",
  "latency_geomean_ms",
  "latency_p95_ms",
  "cost_usd_per_call",
  "tokens_per_call",
  "cost_usd_per_run",
  "latency_ms_per_run",
];

/** Values of `agentgate_feedback_total` by `metric/level`, from the Prometheus text. */
function feedbackCounts(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^agentgate_feedback_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries(
      [...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]] as const),
    );
    out[`${labels.metric}/${labels.level}`] = Number(m[2]);
  }
  return out;
}

describe.each(backends())("metrics and feedback on %s", (backend) => {
  let g: Gateway;
  const tokens: Record<"feedback" | "read" | "write", string> = { feedback: "", read: "", write: "" };
  const bearer = (scope?: keyof typeof tokens) => (scope ? `Bearer ${tokens[scope]}` : g.auth);

  const postFeedback = (body: unknown, scope?: keyof typeof tokens) =>
    g.http
      .post("/api/v1/feedback")
      .set("authorization", bearer(scope))
      .send(body as object);
  const feedbackRows = async () =>
    Number((await g.gw.dbHandle.db("feedback").count<{ n: number }[]>({ n: "*" }))[0]?.n);
  const counts = async () => feedbackCounts((await g.http.get("/metrics")).text);

  /** One call through the gateway with the OpenAI SDK; returns its request id. */
  async function call(session?: string): Promise<string> {
    const { response } = await g
      .client()
      .chat.completions.create(
        { model: "agent:support/coordinator", messages: [{ role: "user", content: "hi" }] },
        session ? { headers: { "X-Session-Id": session } } : {},
      )
      .withResponse();
    expect(response.status).toBe(200);
    const id = response.headers.get("x-agentgate-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    return id as string;
  }

  beforeAll(async () => {
    // Events wait 10 s for their batch here: feedback right after a call finds its event only
    // because the replica that answered writes it on demand (EventRecorder.settle).
    g = await startGateway(backend, { AGENTGATE_EVENT_FLUSH_MS: "10000" });
    await seedSystem(g, "support", ["coordinator"]);
    for (const scope of ["feedback", "read", "write"] as const) {
      const t = await g.admin<{ token: string }>("POST", "/tokens", { name: `fb-${scope}`, scopes: [scope] });
      tokens[scope] = t.token;
    }
    await g.admin("POST", "/metrics", { name: "helpful", type: "boolean", direction: "higher" });
    await g.admin("POST", "/metrics", {
      name: "score",
      type: "float",
      direction: "higher",
      description: "grader score 0-5",
    });
  });
  afterAll(() => g?.close());

  it("declares metrics, lists them after the built-ins, and refuses duplicates and reserved names", async () => {
    const created = await g.http
      .post("/api/v1/metrics")
      .set("authorization", bearer("write"))
      .send({ name: "resolved", type: "boolean", direction: "higher", description: "ticket resolved" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      name: "resolved",
      type: "boolean",
      direction: "higher",
      description: "ticket resolved",
      built_in: false,
      created_by: "fb-write",
      created_at: expect.any(String),
    });
    const audit = await g.admin<{ data: { action: string; object_key: string; actor: string }[] }>(
      "GET",
      "/audit?object_type=metric&object=resolved",
    );
    expect(audit.data).toEqual([expect.objectContaining({ action: "metric.create", actor: "fb-write" })]);

    const dup = await g.http
      .post("/api/v1/metrics")
      .set("authorization", g.auth)
      .send({ name: "resolved", type: "float", direction: "lower" });
    expectError(dup, 409, "already_exists", { param: "name", message: /'resolved'/ });
    for (const name of BUILT_INS) {
      const reserved = await g.http
        .post("/api/v1/metrics")
        .set("authorization", g.auth)
        .send({ name, type: "float", direction: "lower" });
      expectError(reserved, 400, "invalid_request", { param: "name", message: /reserved/ });
    }
    const badType = await g.http
      .post("/api/v1/metrics")
      .set("authorization", g.auth)
      .send({ name: "x1", type: "integer", direction: "higher" });
    expectError(badType, 400, "invalid_request", { param: "type" });
    const badDirection = await g.http
      .post("/api/v1/metrics")
      .set("authorization", g.auth)
      .send({ name: "x1", type: "float", direction: "up" });
    expectError(badDirection, 400, "invalid_request", { param: "direction" });

    const list = await g.http.get("/api/v1/metrics").set("authorization", bearer("read"));
    expect(list.status).toBe(200);
    const names = list.body.data.map((m: { name: string }) => m.name);
    expect(names.slice(0, BUILT_INS.length)).toEqual(BUILT_INS);
    expect(names.slice(BUILT_INS.length)).toEqual(["helpful", "resolved", "score"]);
    for (const m of list.body.data.slice(0, BUILT_INS.length)) {
      expect(m).toMatchObject({ built_in: true, direction: "lower", created_by: null });
    }

    const shown = await g.http.get("/api/v1/metrics/score").set("authorization", bearer("read"));
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ name: "score", type: "float", direction: "higher", built_in: false });
    const builtIn = await g.http.get("/api/v1/metrics/latency_p95_ms").set("authorization", bearer("read"));
    expect(builtIn.body).toMatchObject({ name: "latency_p95_ms", built_in: true, direction: "lower" });
    expectError(
      await g.http.get("/api/v1/metrics/nope").set("authorization", g.auth),
      404,
      "metric_not_found",
    );
  });

  it("records boolean and float feedback on a real call, sent right after the call", async () => {
    const id = await call();
    // No flush: the event may not be stored yet; the service waits for it.
    const yes = await postFeedback({ request_id: id, metric: "helpful", value: true }, "feedback");
    expect(yes.status).toBe(201);
    expect(yes.body).toEqual({
      id: expect.any(Number),
      metric: "helpful",
      value: 1,
      request_id: id,
      session_id: null,
      level: "call",
      comment: null,
      idempotency_key: null,
      actor: "fb-feedback",
      at: expect.any(String),
    });
    const zero = await postFeedback({ request_id: id, metric: "helpful", value: 0 });
    expect(zero.status).toBe(201);
    expect(zero.body.value).toBe(0);
    const no = await postFeedback({ request_id: id, metric: "helpful", value: false });
    expect(no.body.value).toBe(0);
    const one = await postFeedback({ request_id: id, metric: "helpful", value: 1 });
    expect(one.body.value).toBe(1);
    const score = await postFeedback({ request_id: id, metric: "score", value: -2.25, comment: "meh" });
    expect(score.status).toBe(201);
    expect(score.body).toMatchObject({ metric: "score", value: -2.25, comment: "meh", level: "call" });

    const listed = await g.http.get(`/api/v1/feedback?request_id=${id}`).set("authorization", bearer("read"));
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((f: { id: number }) => f.id)).toEqual(
      [score, one, no, zero, yes].map((r) => r.body.id),
    );
    const byMetric = await g.http
      .get(`/api/v1/feedback?request_id=${id}&metric=score`)
      .set("authorization", g.auth);
    expect(byMetric.body.data).toHaveLength(1);
    const paged = await g.http.get(`/api/v1/feedback?request_id=${id}&limit=2`).set("authorization", g.auth);
    expect(paged.body.data).toHaveLength(2);
    expect(paged.body.next_before).toBe(one.body.id);
  });

  it("waits for an event that is stored after the feedback arrives", async () => {
    const id = randomUUID();
    const started = Date.now();
    // supertest sends on `then`: start the request now, before the event exists.
    const pending = postFeedback({ request_id: id, metric: "helpful", value: true }).then((r) => r);
    await new Promise((r) => setTimeout(r, 400));
    await g.gw.dbHandle.db("inference_events").insert({
      request_id: id,
      at: new Date(),
      system: "support",
      agent: "coordinator",
      status: 200,
    });
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.body.request_id).toBe(id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("records feedback on a workflow run by its session id", async () => {
    const session = `run-${randomUUID()}`;
    await call(session);
    await call(session);
    const res = await postFeedback({ session_id: session, metric: "score", value: 4.5, comment: "solved" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      metric: "score",
      value: 4.5,
      request_id: null,
      session_id: session,
      level: "session",
      comment: "solved",
    });
    const listed = await g.http
      .get(`/api/v1/feedback?session_id=${encodeURIComponent(session)}`)
      .set("authorization", g.auth);
    expect(listed.body.data).toEqual([res.body]);
  });

  it("is idempotent on idempotency_key: same content → the stored record, other content → 409", async () => {
    const id = await call();
    const key = `k-${randomUUID()}`;
    const body = { request_id: id, metric: "helpful", value: true, comment: "good", idempotency_key: key };
    const first = await postFeedback(body);
    expect(first.status).toBe(201);
    const rows = await feedbackRows();
    const again = await postFeedback({ ...body, value: 1 });
    expect(again.status).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await feedbackRows()).toBe(rows);

    for (const change of [
      { value: false },
      { comment: "bad" },
      { comment: null },
      { metric: "score", value: 1 },
      { request_id: await call() },
    ]) {
      expectError(await postFeedback({ ...body, ...change }), 409, "idempotency_conflict", {
        param: "idempotency_key",
        message: new RegExp(`feedback ${first.body.id}`),
      });
    }
    expect(await feedbackRows()).toBe(rows);
    const stored = await g.gw.dbHandle.db("feedback").where({ idempotency_key: key });
    expect(stored).toHaveLength(1);
    expect(Number(stored[0].value)).toBe(1);
    expect(stored[0].comment).toBe("good");

    // Concurrent retries with one key: one record, every answer is that record.
    const raceKey = `race-${randomUUID()}`;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        postFeedback({ request_id: id, metric: "score", value: 3, idempotency_key: raceKey }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await g.gw.dbHandle.db("feedback").where({ idempotency_key: raceKey })).toHaveLength(1);
  });

  it("answers unknown request and session ids with 404 after a short wait", async () => {
    const rows = await feedbackRows();
    const started = Date.now();
    const [req, sess] = await Promise.all([
      postFeedback({ request_id: randomUUID(), metric: "helpful", value: true }),
      postFeedback({ session_id: `never-${randomUUID()}`, metric: "helpful", value: true }),
    ]);
    const elapsed = Date.now() - started;
    expectError(req, 404, "request_not_found", { param: "request_id" });
    expectError(sess, 404, "session_not_found", { param: "session_id" });
    expect(elapsed).toBeGreaterThanOrEqual(1_200);
    expect(elapsed).toBeLessThan(5_000);
    expect(await feedbackRows()).toBe(rows);
  });

  it("answers every malformed feedback with a precise 4xx and stores nothing", async () => {
    const id = await call();
    const rows = await feedbackRows();
    const before = await counts();
    const cases: Array<[string, unknown, number, string, string | null, RegExp?]> = [
      [
        "undeclared metric",
        { request_id: id, metric: "nope", value: 1 },
        404,
        "metric_not_found",
        "metric",
        /POST \/api\/v1\/metrics.*agentgate metrics create/,
      ],
      [
        "built-in metric",
        { request_id: id, metric: "latency_geomean_ms", value: 1 },
        400,
        "invalid_request",
        "metric",
      ],
      [
        "both ids",
        { request_id: id, session_id: "s", metric: "helpful", value: true },
        400,
        "invalid_request",
        null,
        /exactly one of request_id .* or session_id/,
      ],
      ["neither id", { metric: "helpful", value: true }, 400, "invalid_request", null, /exactly one/],
      [
        "null ids",
        { request_id: null, session_id: null, metric: "helpful", value: true },
        400,
        "invalid_request",
        null,
      ],
      [
        "empty request id",
        { request_id: "", metric: "helpful", value: true },
        400,
        "invalid_request",
        "request_id",
      ],
      ["no metric", { request_id: id, value: true }, 400, "invalid_request", "metric"],
      ["no value", { request_id: id, metric: "helpful" }, 400, "invalid_request", "value"],
      ["string value", { request_id: id, metric: "helpful", value: "true" }, 400, "invalid_request", "value"],
      ["'NaN'", { request_id: id, metric: "score", value: "NaN" }, 400, "invalid_request", "value"],
      ["'Infinity'", { request_id: id, metric: "score", value: "Infinity" }, 400, "invalid_request", "value"],
      ["null value", { request_id: id, metric: "score", value: null }, 400, "invalid_request", "value"],
      [
        "fraction on a boolean metric",
        { request_id: id, metric: "helpful", value: 0.5 },
        400,
        "invalid_request",
        "value",
        /boolean: send true or false/,
      ],
      [
        "2 on a boolean metric",
        { request_id: id, metric: "helpful", value: 2 },
        400,
        "invalid_request",
        "value",
      ],
      [
        "boolean on a float metric",
        { request_id: id, metric: "score", value: true },
        400,
        "invalid_request",
        "value",
        /float: send a finite number/,
      ],
      [
        "oversize comment",
        { request_id: id, metric: "score", value: 1, comment: "x".repeat(2001) },
        400,
        "invalid_request",
        "comment",
      ],
      [
        "oversize key",
        { request_id: id, metric: "score", value: 1, idempotency_key: "k".repeat(201) },
        400,
        "invalid_request",
        "idempotency_key",
      ],
      [
        "unknown field",
        { request_id: id, metric: "score", value: 1, user: "x" },
        400,
        "invalid_request",
        null,
        /user/,
      ],
      ["not an object", [1, 2], 400, "invalid_request", null],
    ];
    for (const [name, body, status, code, param, message] of cases) {
      const res = await postFeedback(body);
      expect(res.status, name).toBe(status);
      expectError(res, status, code, { param, ...(message ? { message } : {}) });
    }
    // Overflowing numbers parse to Infinity: refused, not stored as null.
    const huge = await g.http
      .post("/api/v1/feedback")
      .set("authorization", g.auth)
      .set("content-type", "application/json")
      .send(`{"request_id":"${id}","metric":"score","value":1e400}`);
    expectError(huge, 400, "invalid_request", { param: "value" });
    // At the limits is fine.
    const edge = await postFeedback({
      request_id: id,
      metric: "score",
      value: 0,
      comment: "x".repeat(2000),
      idempotency_key: "k".repeat(200),
    });
    expect(edge.status).toBe(201);
    expect(await feedbackRows()).toBe(rows + 1);
    const after = await counts();
    expect((after["score/call"] ?? 0) - (before["score/call"] ?? 0)).toBe(1);
    expect(after["helpful/call"]).toBe(before["helpful/call"]);
  });

  it("a feedback token posts feedback and nothing else; a read token cannot post it", async () => {
    const id = await call();
    expect((await postFeedback({ request_id: id, metric: "helpful", value: true }, "feedback")).status).toBe(
      201,
    );
    for (const [method, path] of [
      ["get", "/api/v1/feedback"],
      ["get", "/api/v1/metrics"],
      ["get", "/api/v1/systems"],
      ["get", "/api/v1/experiments"],
    ] as const) {
      expectError(
        await g.http[method](path).set("authorization", bearer("feedback")),
        403,
        "insufficient_scope",
      );
    }
    expectError(
      await g.http
        .post("/api/v1/metrics")
        .set("authorization", bearer("feedback"))
        .send({ name: "sneaky", type: "float", direction: "higher" }),
      403,
      "insufficient_scope",
      { message: /'write'/ },
    );
    for (const scope of ["read", "write"] as const) {
      expectError(
        await postFeedback({ request_id: id, metric: "helpful", value: true }, scope),
        403,
        "insufficient_scope",
        { message: /'feedback'/ },
      );
    }
    expectError(await g.http.post("/api/v1/feedback").send({}), 401, "missing_token");
    expect((await g.http.get("/api/v1/feedback").set("authorization", bearer("read"))).status).toBe(200);
  });

  it("counts new feedback records on /metrics, not replays or refusals", async () => {
    const id = await call();
    const session = `count-${randomUUID()}`;
    await call(session);
    const before = await counts();
    const key = `c-${randomUUID()}`;
    expect(
      (await postFeedback({ request_id: id, metric: "helpful", value: true, idempotency_key: key })).status,
    ).toBe(201);
    expect(
      (await postFeedback({ request_id: id, metric: "helpful", value: true, idempotency_key: key })).status,
    ).toBe(200);
    expect((await postFeedback({ request_id: id, metric: "helpful", value: 7 })).status).toBe(400);
    expect((await postFeedback({ session_id: session, metric: "helpful", value: false })).status).toBe(201);
    expect((await postFeedback({ session_id: session, metric: "score", value: 2 })).status).toBe(201);
    const after = await counts();
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta("helpful/call")).toBe(1);
    expect(delta("helpful/session")).toBe(1);
    expect(delta("score/session")).toBe(1);
    expect(delta("score/call")).toBe(0);
  });

  it("lets experiments name only declared or built-in metrics", async () => {
    const base = {
      system: "support",
      agent: "coordinator",
      arms: [
        { name: "control", weight: 1, versions: { coordinator: 1 } },
        { name: "ft", weight: 1, versions: { coordinator: 2 } },
      ],
    };
    const create = (body: Record<string, unknown>) =>
      g.http
        .post("/api/v1/experiments")
        .set("authorization", g.auth)
        .send({ ...base, ...body });
    const experiments = async () => (await g.admin<{ data: unknown[] }>("GET", "/experiments")).data.length;
    const count = await experiments();

    expectError(await create({ name: "e1", primary_metric: "csat" }), 400, "invalid_request", {
      param: "primary_metric",
      message: /unknown metric 'csat'.*agentgate metrics create/,
    });
    expectError(
      await create({
        name: "e2",
        primary_metric: "helpful",
        secondary_metrics: ["cost_usd_per_call", "bogus"],
      }),
      400,
      "invalid_request",
      { param: "secondary_metrics.1", message: /'bogus'/ },
    );
    expectError(
      await create({
        name: "e3",
        primary_metric: "helpful",
        guardrails: [{ metric: "latency_geomean_ms" }, { metric: "p99" }],
      }),
      400,
      "invalid_request",
      { param: "guardrails.1.metric", message: /'p99'/ },
    );
    expect(await experiments()).toBe(count);

    const ok = await create({
      name: "e4",
      primary_metric: "helpful",
      secondary_metrics: ["score", "tokens_per_call", "cost_usd_per_call"],
      guardrails: [{ metric: "error_rate", max_increase: 0.02 }, { metric: "latency_p95_ms" }],
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      primary_metric: "helpful",
      secondary_metrics: ["score", "tokens_per_call", "cost_usd_per_call"],
      guardrails: [{ metric: "error_rate", max_increase: 0.02 }, { metric: "latency_p95_ms" }],
    });
    const builtInPrimary = await create({ name: "e5", primary_metric: "latency_geomean_ms" });
    expect(builtInPrimary.status).toBe(201);
  });
});
