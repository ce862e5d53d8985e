/**
 * One capture → one example, without a server: tool-calling conversations in both formats, the
 * order rules, and what counts as the same conversation.
 */
import { describe, expect, it } from "vitest";
import { type BuildOptions, type SourceCapture, toExample } from "../../src/datasets/build.js";

const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    },
  },
];
const CALL = {
  id: "call_1",
  type: "function",
  function: { name: "get_weather", arguments: '{"city":"Paris"}' },
};
const TOOL_CONVERSATION: SourceCapture = {
  messages: [
    { role: "developer", content: "Use tools." },
    {
      role: "user",
      content: [
        { type: "text", text: "Weather" },
        { type: "text", text: "in Paris?" },
      ],
    },
    { role: "assistant", content: null, tool_calls: [CALL] },
    { role: "tool", tool_call_id: "call_1", content: "18C" },
  ],
  tools: TOOLS,
  response: { role: "assistant", content: "It is 18C." },
  truncated: false,
  prompt: null,
};
const OPTS: BuildOptions = { format: "openai", prompt: "served", maxTokens: 1000, weightAssistant: true };

function line(c: SourceCapture, o: Partial<BuildOptions> = {}): Record<string, unknown> {
  const out = toExample(c, { ...OPTS, ...o });
  if (!out.ok) throw new Error(`dropped: ${out.reason}`);
  return JSON.parse(out.example.line);
}
const reason = (c: Partial<SourceCapture>, o: Partial<BuildOptions> = {}) => {
  const out = toExample({ ...TOOL_CONVERSATION, ...c }, { ...OPTS, ...o });
  return out.ok ? "kept" : out.reason;
};

describe("examples with tool calls", () => {
  it("OpenAI format: arguments as a JSON string, tool_call_id, weights, tools", () => {
    expect(line(TOOL_CONVERSATION)).toEqual({
      messages: [
        { role: "system", content: "Use tools." },
        { role: "user", content: "Weather\nin Paris?" },
        { role: "assistant", tool_calls: [CALL], weight: 0 },
        { role: "tool", content: "18C", tool_call_id: "call_1" },
        { role: "assistant", content: "It is 18C.", weight: 1 },
      ],
      tools: TOOLS,
    });
  });

  it("TRL format: arguments as an object, tool results named, prompt and completion", () => {
    expect(line(TOOL_CONVERSATION, { format: "trl" })).toEqual({
      prompt: [
        { role: "system", content: "Use tools." },
        { role: "user", content: "Weather\nin Paris?" },
        {
          role: "assistant",
          content: "",
          tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }],
        },
        { role: "tool", content: "18C", name: "get_weather" },
      ],
      completion: [{ role: "assistant", content: "It is 18C." }],
      tools: TOOLS,
    });
  });

  it("an answer that calls a tool is a valid target", () => {
    const c = {
      ...TOOL_CONVERSATION,
      messages: [{ role: "user", content: "Paris?" }],
      response: { role: "assistant", content: null, tool_calls: [CALL] },
    };
    expect(line(c)).toMatchObject({
      messages: [{ role: "user" }, { role: "assistant", tool_calls: [CALL], weight: 1 }],
    });
    expect((line(c).messages as object[])[1]).not.toHaveProperty("content");
  });
});

describe("validation", () => {
  it("drops conversations out of order", () => {
    const u = { role: "user", content: "q" };
    const a = { role: "assistant", content: "a" };
    expect(reason({ messages: [u, { role: "tool", tool_call_id: "call_1", content: "r" }] })).toBe(
      "bad_order",
    );
    expect(reason({ messages: [u, { role: "assistant", content: null, tool_calls: [CALL] }, u] })).toBe(
      "bad_order",
    );
    expect(
      reason({
        messages: [
          u,
          { role: "assistant", tool_calls: [CALL] },
          { role: "tool", tool_call_id: "other", content: "r" },
        ],
      }),
    ).toBe("bad_order");
    expect(reason({ messages: [u, a, { role: "system", content: "late" }, u] })).toBe("bad_order");
    expect(reason({ messages: [a, u] })).toBe("bad_order");
    expect(reason({ messages: [u, a] })).toBe("bad_order");
    expect(reason({ messages: [{ role: "system", content: "only" }] })).toBe("bad_order");
    expect(reason({ messages: [u, a, u] })).toBe("kept");
  });

  it("drops bad messages, tool calls and answers with the matching reason", () => {
    const u = { role: "user", content: "q" };
    expect(reason({ truncated: true })).toBe("truncated");
    expect(reason({ messages: "nope" as never })).toBe("invalid_message");
    expect(reason({ messages: [{ role: "tool", content: "x" }] })).toBe("invalid_message");
    expect(reason({ messages: [{ role: "function", content: "x" }, u] })).toBe("invalid_role");
    expect(reason({ messages: [{ role: "user", content: [{ type: "input_audio" }] }] })).toBe(
      "non_text_content",
    );
    expect(
      reason({
        messages: [
          u,
          { role: "assistant", tool_calls: [{ ...CALL, function: { name: "f", arguments: {} } }] },
          u,
        ],
      }),
    ).toBe("invalid_tool_call");
    expect(
      reason(
        {
          messages: [u],
          response: {
            role: "assistant",
            content: null,
            tool_calls: [{ ...CALL, function: { name: "f", arguments: "not json" } }],
          },
        },
        { format: "trl" },
      ),
    ).toBe("invalid_tool_call");
    expect(reason({ messages: [u], response: { role: "assistant", content: " " } })).toBe("empty_answer");
    expect(reason({ messages: [u], response: { role: "user", content: "x" } })).toBe("invalid_message");
    expect(reason({ messages: [{ role: "user", content: "" }, u] })).toBe("empty_message");
    expect(reason({ messages: [{ role: "user", content: "x".repeat(41) }] }, { maxTokens: 10 })).toBe(
      "oversized_message",
    );
    expect(
      reason(
        {
          messages: [{ role: "user", content: "x".repeat(30) }],
          tools: null,
          response: { role: "assistant", content: "y".repeat(30) },
        },
        { maxTokens: 10 },
      ),
    ).toBe("too_many_tokens");
  });

  it("estimates tokens as characters / 4 over contents, tool calls and tool definitions", () => {
    const out = toExample(
      {
        messages: [{ role: "user", content: "abcd" }],
        tools: null,
        response: { role: "assistant", content: "abcdefgh" },
        truncated: false,
        prompt: null,
      },
      OPTS,
    );
    expect(out.ok && out.example.tokens).toBe(3);
    const withTools = toExample(TOOL_CONVERSATION, OPTS);
    const chars =
      "Use tools.".length +
      "Weather\nin Paris?".length +
      "get_weather".length +
      CALL.function.arguments.length +
      "18C".length +
      "It is 18C.".length +
      JSON.stringify(TOOLS).length;
    expect(withTools.ok && withTools.example.tokens).toBe(Math.ceil(chars / 4));
  });

  it("the same conversation up to whitespace has one hash; a different answer another", () => {
    const base = { ...TOOL_CONVERSATION, tools: null, messages: [{ role: "user", content: "hello  world" }] };
    const hash = (c: SourceCapture) => {
      const o = toExample(c, OPTS);
      return o.ok ? o.example.hash : o.reason;
    };
    expect(hash(base)).toBe(hash({ ...base, messages: [{ role: "user", content: " hello world\n" }] }));
    expect(hash(base)).not.toBe(hash({ ...base, response: { role: "assistant", content: "Other." } }));
    expect(hash(base)).not.toBe(hash({ ...base, messages: [{ role: "user", content: "hello there" }] }));
  });
});
