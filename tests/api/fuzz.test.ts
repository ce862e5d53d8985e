/**
 * Bad input, everywhere: random and type-confused requests to every operation of the OpenAPI
 * document (the whole admin API) and to the data plane must be answered with a 4xx in the one
 * error shape, never a 5xx, a stack trace or a hang. Property-based (fast-check) with a fixed seed,
 * so a CI failure reproduces; AGENTGATE_FUZZ_SEED and AGENTGATE_FUZZ_RUNS explore further.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";
import { expectErrorEnvelope, expectNoLeak } from "../helpers/api.js";
import { ADMIN_TOKEN, startTestInstance, type TestInstance } from "../helpers/instance.js";

const SEED = Number(process.env.AGENTGATE_FUZZ_SEED ?? 20261125);
const RUNS = Number(process.env.AGENTGATE_FUZZ_RUNS ?? 12);

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
};
type Operation = {
  method: string;
  path: string;
  params: string[];
  body: Schema | null;
};

/** Values a client might plausibly, or wrongly, send for one field. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom("", " ", "support", "support/coordinator", "1", "-1", "0", "1e309", "null", "true"),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, -0),
  fc.string({ maxLength: 600, unit: "grapheme" }),
);

/** A value of roughly the schema's shape, with any field possibly of the wrong type or missing. */
function shaped(s: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 3) return anyValue;
  if (s.enum) return fc.oneof(fc.constantFrom(...s.enum), anyValue);
  if (s.properties) {
    const model = Object.fromEntries(
      Object.entries(s.properties).map(([k, v]) => [k, shaped(v, depth + 1)] as const),
    );
    return fc.oneof(fc.record(model, { requiredKeys: [] }), anyValue);
  }
  if (s.items) return fc.oneof(fc.array(shaped(s.items, depth + 1), { maxLength: 4 }), anyValue);
  return anyValue;
}

const pathParam = fc.oneof(
  fc.constantFrom(
    "support",
    "coordinator",
    "1",
    "2",
    "0",
    "-1",
    "99999999999999999999",
    "..",
    "a".repeat(300),
  ),
  fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }),
);

/** A request body: shaped like the schema, any JSON, or not JSON at all. */
function bodyOf(op: Operation): fc.Arbitrary<string | undefined> {
  const json = shaped(op.body ?? undefined).map((v) => JSON.stringify(v) ?? "null");
  return fc.oneof(
    { weight: 6, arbitrary: json },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function checkAnswer(what: string, status: number, text: string): void {
  expect(status, `${what} → ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
  expect(text, what).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  if (status < 400) return;
  expectErrorEnvelope(JSON.parse(text), what);
  expectNoLeak(text);
}

describe("random and malformed input", () => {
  let t: TestInstance;
  let fake: FakeUpstream;
  let ops: Operation[] = [];
  const send = async (method: string, path: string, body: string | undefined, headers = {}) => {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: method === "GET" || method === "HEAD" ? undefined : body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    t = await startTestInstance("pglite");
    fake = await startFakeUpstream();
    // Something to find, so inputs that name it reach the deeper validation.
    const seed: [string, string, unknown][] = [
      ["POST", "/api/v1/upstreams", { name: "fake", base_url: fake.url }],
      ["POST", "/api/v1/systems", { name: "support", topology: "hierarchical" }],
      ["POST", "/api/v1/systems/support/agents", { name: "coordinator" }],
      [
        "POST",
        "/api/v1/systems/support/agents/coordinator/versions",
        { kind: "base_optimized", upstream: "fake", model: "m" },
      ],
    ];
    for (const [method, path, body] of seed) {
      const r = await send(method, path, JSON.stringify(body));
      expect(r.status, r.text).toBeLessThan(300);
    }
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> } }>
      >;
    };
    ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
        body: op.requestBody?.content?.["application/json"]?.schema ?? null,
      })),
    );
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it("every admin API operation answers 4xx in the error shape, never 5xx", {
    timeout: 240_000,
  }, async () => {
    expect(ops.length).toBeGreaterThan(40);
    for (const op of ops) {
      const params = fc.tuple(...op.params.map(() => pathParam));
      const query = fc.option(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 30 })), {
        nil: undefined,
      });
      await fc.assert(
        fc.asyncProperty(params, bodyOf(op), query, async (values, body, q) => {
          let path = op.path;
          op.params.forEach((name, i) => {
            path = path.replace(`{${name}}`, encodeURIComponent(values[i] as string));
          });
          if (q) path += `?${new URLSearchParams(q)}`;
          const r = await send(op.method, path, body);
          checkAnswer(`${op.method} ${path} ${body?.slice(0, 200)}`, r.status, r.text);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    }
  });

  it("the data plane answers malformed chat requests with OpenAI-shaped 4xx errors", async () => {
    const message = fc.record(
      { role: fc.oneof(fc.constantFrom("user", "system", "assistant", ""), anyValue), content: anyValue },
      { requiredKeys: [] },
    );
    const chat = fc.record(
      {
        model: fc.oneof(
          fc.constantFrom(
            "agent:support/coordinator",
            "agent:",
            "agent:x/y@3",
            "agent:support/coordinator@0",
          ),
          anyValue,
        ),
        messages: fc.oneof(fc.array(message, { maxLength: 3 }), anyValue),
        stream: fc.oneof(fc.boolean(), anyValue),
        user: anyValue,
      },
      { requiredKeys: [] },
    );
    const agentHeader = fc.option(
      fc.oneof(
        fc.constantFrom("support/coordinator", "support/", "/", "a/b/c"),
        fc.string({ maxLength: 60 }),
      ),
      {
        nil: undefined,
      },
    );
    // A valid call with one field changed or added: these reach the routing, the version's
    // prompt override, the upstream and the answer's forwarding.
    const field = fc.constantFrom(
      "model",
      "messages",
      "stream",
      "stream_options",
      "user",
      "n",
      "temperature",
      "tools",
      "tool_choice",
      "response_format",
      "max_tokens",
      "metadata",
      "seed",
    );
    const nearValid = fc.tuple(field, anyValue, fc.boolean()).map(([key, value, stream]) => ({
      model: "agent:support/coordinator",
      messages: [{ role: "user", content: "hello" }],
      stream,
      [key]: value,
    }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(chat, nearValid), agentHeader, async (body, agent) => {
        const r = await send(
          "POST",
          "/v1/chat/completions",
          JSON.stringify(body),
          agent === undefined ? {} : { "x-agent": agent },
        );
        checkAnswer(`chat ${JSON.stringify(body).slice(0, 200)} x-agent=${agent}`, r.status, r.text);
      }),
      { seed: SEED, numRuns: RUNS * 20, endOnFailure: true },
    );
  });
});
