/**
 * The pieces of capture without a server: the stream tap's answer accumulator (bytes forwarded
 * unchanged, tool calls merged, the budget), the path and pattern rules, and `buildCapture`'s
 * guarantees (redaction, sanitizing for jsonb, the byte cap, hostile input).
 */
import { describe, expect, it } from "vitest";
import { buildCapture } from "../../src/capture/capture.js";
import { compilePattern, parsePath } from "../../src/capture/policy.js";
import { SseUsageTap } from "../../src/gateway/sse-usage.js";

const chunk = (delta: object, index = 0) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index, delta, finish_reason: null }] })}\n\n`;

const STREAM = [
  chunk({ role: "assistant", content: "" }),
  chunk({ content: "Hel" }),
  chunk({ content: "lo" }),
  chunk({ content: "other choice" }, 1),
  chunk({
    tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "look", arguments: "" } }],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }),
  chunk({
    tool_calls: [{ index: 1, id: "call_2", type: "function", function: { name: "add", arguments: "{}" } }],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }),
  "data: [DONE]\n\n",
].join("");

/** Feeds `text` in chunks of `size` bytes; returns the forwarded bytes and the tap. */
function run(text: string, size: number, captureMaxChars?: number) {
  const tap = new SseUsageTap({ stripUsage: false, captureMaxChars });
  const input = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) {
    const o = tap.push(input.subarray(i, i + size));
    if (o) out.push(o);
  }
  const rest = tap.end();
  if (rest) out.push(rest);
  return { out: Buffer.concat(out).toString(), tap };
}

describe("stream tap answer accumulation", () => {
  it("forwards the same bytes with and without accumulation, for any chunking", () => {
    for (const size of [1, 7, 64, 4096]) {
      expect(run(STREAM, size, 10_000).out).toBe(STREAM);
      expect(run(STREAM, size).out).toBe(STREAM);
    }
  });

  it("puts the first choice's content and tool calls back together", () => {
    const { tap } = run(STREAM, 5, 10_000);
    expect(tap.summary.answer).toEqual({
      content: "Hello",
      refusal: null,
      truncated: false,
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "look", arguments: '{"q":"x"}' } },
        { id: "call_2", type: "function", function: { name: "add", arguments: "{}" } },
      ],
    });
  });

  it("accumulates nothing when capture is off, and stops at the budget with truncated set", () => {
    expect(run(STREAM, 64).tap.summary.answer).toBeNull();
    const { tap } = run(STREAM, 64, 4);
    expect(tap.summary.answer).toMatchObject({ content: "Hell", truncated: true, tool_calls: null });
  });
});

describe("redaction rules", () => {
  it("parses the documented path syntax and refuses the rest", () => {
    expect(parsePath("messages[*].content")).toEqual([
      { kind: "key", key: "messages" },
      { kind: "all" },
      { kind: "key", key: "content" },
    ]);
    expect(parsePath(`$.messages[?(@.role == "user")]['content'][-1].*`)).toEqual([
      { kind: "key", key: "messages" },
      { kind: "filter", key: "role", op: "==", value: "user" },
      { kind: "key", key: "content" },
      { kind: "index", index: -1 },
      { kind: "all" },
    ]);
    expect(parsePath("$.messages[?(@.n!=3)]")[1]).toEqual({ kind: "filter", key: "n", op: "!=", value: 3 });
    for (const bad of [
      "",
      "$",
      "messages.",
      "messages[",
      "messages[x]",
      "$..content",
      "1abc",
      "a".repeat(300),
    ])
      expect(() => parsePath(bad), bad).toThrow();
  });

  it("compiles patterns with (?i), refuses nested unbounded quantifiers and empty matches", () => {
    expect(compilePattern("(?i)secret").test("SECRET")).toBe(true);
    expect(compilePattern("(?:\\d{3}-){2}\\d{4}").source).toBe("(?:\\d{3}-){2}\\d{4}");
    expect(() => compilePattern("[a-z]+(x)?")).not.toThrow();
    expect(() => compilePattern("z(x+y)?")).not.toThrow();
    for (const bad of [
      "(a+)+",
      "(a*)*",
      "((ab)+c)*",
      "(\\d+){2,}",
      "(.*a){1,50}",
      "a?",
      "(",
      "x".repeat(257),
    ])
      expect(() => compilePattern(bad), bad).toThrow();
  });
});

describe("buildCapture", () => {
  const policy = (over: Partial<Parameters<typeof buildCapture>[1]> = {}) => ({
    maxBytes: 4096,
    paths: [],
    patterns: [],
    ...over,
  });

  it("redacts selected values and pattern matches, leaving roles and types alone", () => {
    const c = buildCapture(
      {
        messages: [
          { role: "system", content: "sys" },
          { role: "user", content: [{ type: "text", text: "mail bob@example.com" }] },
          { role: "user", content: "last" },
        ],
        tools: [{ type: "function", function: { name: "f", parameters: {} } }],
        answer: {
          content: "ok bob@example.com",
          tool_calls: [
            { id: "1", type: "function", function: { name: "f", arguments: '{"to":"bob@example.com"}' } },
          ],
        },
        version: 2,
      },
      policy({
        paths: [parsePath("messages[-1].content"), parsePath("$.messages[?(@.role=='system')].content")],
        patterns: [compilePattern("[\\w.]+@[\\w.]+"), compilePattern("(?i)USER|FUNCTION")],
      }),
    );
    expect(c.messages).toEqual([
      { role: "system", content: "[REDACTED]" },
      { role: "user", content: [{ type: "text", text: "mail [REDACTED]" }] },
      { role: "user", content: "[REDACTED]" },
    ]);
    expect(c.response).toEqual({
      role: "assistant",
      content: "ok [REDACTED]",
      tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: '{"to":"[REDACTED]"}' } }],
    });
    expect(c.tools).toEqual([{ type: "function", function: { name: "f", parameters: {} } }]);
    expect(c).toMatchObject({ version: 2, truncated: false });
  });

  it("makes strings storable in jsonb and keeps `__proto__` a plain member", () => {
    const messages = JSON.parse('[{"role":"user","content":"a\\u0000b\\ud800c","__proto__":{"x":1}}]');
    const c = buildCapture({ messages, tools: undefined, answer: { content: "fine" }, version: 1 }, policy());
    const m = c.messages[0] as Record<string, unknown>;
    expect(m.content).toBe("a\uFFFDb\uFFFDc");
    expect(Object.hasOwn(m, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(JSON.stringify(c.messages)).not.toMatch(/\\u0000|\\ud800/);
  });

  it("stays within the byte cap whatever the input: long strings, many messages, deep nesting", () => {
    let deep: unknown = "bottom";
    for (let i = 0; i < 5000; i++) deep = [deep];
    const inputs = [
      [{ role: "user", content: "é".repeat(50_000) }],
      Array.from({ length: 5000 }, (_, i) => ({ role: "user", content: `message ${i}` })),
      [{ role: "user", content: deep }],
    ];
    for (const messages of inputs) {
      const c = buildCapture(
        { messages, tools: null, answer: { content: "z".repeat(3000) }, version: 1 },
        policy({ maxBytes: 2048 }),
      );
      expect(c.truncated).toBe(true);
      expect(c.bytes).toBeLessThanOrEqual(2048);
      expect(
        Buffer.byteLength(JSON.stringify({ messages: c.messages, tools: c.tools, response: c.response })),
      ).toBe(c.bytes);
    }
  });

  it("never stores part of a secret cut short before redaction (the cut lands far below it)", () => {
    // Strings are cut to cap + 1 KiB before patterns run: here right inside the secret, so the
    // pattern cannot match what is left of it; the final fit to the cap must remove that part.
    const content = `${"a".repeat(2048 + 1024 - 8)}secret-123456789`;
    const c = buildCapture(
      { messages: [{ role: "user", content }], tools: null, answer: { content: "k" }, version: 1 },
      policy({ maxBytes: 2048, patterns: [compilePattern("secret-\\d{9}")] }),
    );
    expect(c.truncated).toBe(true);
    expect(JSON.stringify(c.messages)).toMatch(/^\[\{"role":"user","content":"a+"\}\]$/);
  });
});
