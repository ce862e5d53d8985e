import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { pumpSse } from "../../src/gateway/sse-pump.js";
import { type SseTapOptions, SseUsageTap } from "../../src/gateway/sse-usage.js";

const usage = {
  prompt_tokens: 11,
  completion_tokens: 3,
  total_tokens: 14,
  prompt_tokens_details: { cached_tokens: 4 },
  completion_tokens_details: { reasoning_tokens: 0 },
};
const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini" };
const chunk = (delta: object, finish: string | null = null) =>
  JSON.stringify({ ...head, choices: [{ index: 0, delta, finish_reason: finish }], usage: null });

/** An OpenAI-style stream as blocks (without terminators); non-ASCII text exercises UTF-8 splits. */
const BLOCKS = {
  role: `data: ${chunk({ role: "assistant", content: "" })}`,
  c1: `data: ${chunk({ content: "Héllo" })}`,
  c2: `data: ${chunk({ content: " 日本 😀" })}`,
  finish: `data: ${chunk({}, "stop")}`,
  usage: `data: ${JSON.stringify({ ...head, choices: [], usage })}`,
  done: "data: [DONE]",
};
const ORDER = ["role", "c1", "c2", "finish", "usage", "done"] as const;

function stream(eol: string, skip: (keyof typeof BLOCKS)[] = []): Buffer {
  return Buffer.from(
    ORDER.filter((k) => !skip.includes(k))
      .map((k) => BLOCKS[k] + eol + eol)
      .join(""),
  );
}

/** Runs `input` through a tap split at `cuts` (sorted byte offsets); returns output and tap. */
function run(input: Buffer, cuts: number[], opts: SseTapOptions) {
  const tap = new SseUsageTap(opts);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    const o = tap.push(input.subarray(prev, c));
    if (o) out.push(o);
    prev = c;
  }
  const rest = tap.end();
  if (rest) out.push(rest);
  return { out: Buffer.concat(out), tap };
}

function expectFullSummary(tap: SseUsageTap) {
  expect(tap.summary).toMatchObject({
    usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14, cached_tokens: 4 },
    done: true,
    finishReason: "stop",
    model: "gpt-4o-mini",
    events: 6,
    malformedEvents: 0,
    overflow: false,
  });
}

describe.each([
  ["LF", "\n"],
  ["CRLF", "\r\n"],
  ["CR", "\r"],
])("SSE tap with %s line endings", (_name, eol) => {
  const input = stream(eol);
  const withoutUsage = stream(eol, ["usage"]);

  it("passes bytes through unchanged at every split offset", () => {
    for (let cut = 0; cut <= input.length; cut++) {
      const { out, tap } = run(input, [cut], { stripUsage: false });
      expect(out.equals(input)).toBe(true);
      expectFullSummary(tap);
      expect(tap.summary.usageStripped).toBe(false);
    }
  });

  it("strips exactly the usage block at every split offset", () => {
    for (let cut = 0; cut <= input.length; cut++) {
      const { out, tap } = run(input, [cut], { stripUsage: true });
      expect(out.toString("utf8")).toBe(withoutUsage.toString("utf8"));
      expectFullSummary(tap);
      expect(tap.summary.usageStripped).toBe(true);
    }
  });

  it("handles one byte per chunk and random multi-way splits", () => {
    const every = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
    expect(run(input, every, { stripUsage: true }).out.equals(withoutUsage)).toBe(true);
    expect(run(input, every, { stripUsage: false }).out.equals(input)).toBe(true);
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 200; trial++) {
      const cuts = [
        ...new Set(
          Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * input.length)),
        ),
      ];
      cuts.sort((a, b) => a - b);
      const stripped = run(input, cuts, { stripUsage: true });
      expect(stripped.out.equals(withoutUsage)).toBe(true);
      expectFullSummary(stripped.tap);
    }
  });

  it("keeps a stream without a usage block byte-identical even when stripping", () => {
    for (let cut = 0; cut <= withoutUsage.length; cut++) {
      const { out, tap } = run(withoutUsage, [cut], { stripUsage: true });
      expect(out.equals(withoutUsage)).toBe(true);
      expect(tap.summary.usage).toBeNull();
      expect(tap.summary.usageStripped).toBe(false);
    }
  });
});

describe("SSE tap", () => {
  it("handles many events in one chunk", () => {
    const input = stream("\n");
    const tap = new SseUsageTap({ stripUsage: true });
    const out = tap.push(input);
    expect(out?.toString()).toBe(stream("\n", ["usage"]).toString());
    expect(tap.end()).toBeNull();
    expectFullSummary(tap);
  });

  it("holds at most the current partial block when stripping", () => {
    const tap = new SseUsageTap({ stripUsage: true });
    const first = Buffer.from(`${BLOCKS.role}\n\n`);
    const half = Buffer.from(`${BLOCKS.c1}\n`);
    expect(tap.push(first)?.equals(first)).toBe(true);
    // A block is not released before its blank line...
    expect(tap.push(half)).toBeNull();
    // ...and is released whole as soon as it ends.
    expect(tap.push(Buffer.from("\n"))?.toString()).toBe(`${BLOCKS.c1}\n\n`);
  });

  it("forwards the very same buffers when not stripping", () => {
    const tap = new SseUsageTap({ stripUsage: false });
    const input = stream("\n");
    const a = input.subarray(0, 17);
    const b = input.subarray(17);
    expect(tap.push(a)).toBe(a);
    expect(tap.push(b)).toBe(b);
  });

  it("records the time of the first non-empty delta, not of the role chunk", () => {
    let clock = 0;
    const tap = new SseUsageTap({ stripUsage: false, now: () => ++clock });
    tap.push(Buffer.from(`${BLOCKS.role}\n\n`)); // clock 1: role only
    tap.push(Buffer.from(`${BLOCKS.c1.slice(0, 20)}`)); // clock 2: partial
    tap.push(Buffer.from(`${BLOCKS.c1.slice(20)}\n\n`)); // clock 3: first content completes
    tap.push(Buffer.from(`${BLOCKS.c2}\n\n`)); // clock 4
    expect(tap.summary.firstTokenAt).toBe(3);
  });

  it("counts tool-call deltas as the first token", () => {
    const tap = new SseUsageTap({ stripUsage: false, now: () => 42 });
    const tool = chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "f", arguments: "" } }] });
    tap.push(Buffer.from(`data: ${chunk({ role: "assistant", content: null })}\n\ndata: ${tool}\n\n`));
    expect(tap.summary.firstTokenAt).toBe(42);
  });

  it("reports a truncated stream: no [DONE], no usage, held bytes still delivered", () => {
    const full = stream("\n");
    const cut = full.indexOf("data:", full.indexOf(BLOCKS.finish)) + 25; // mid finish block
    const truncated = full.subarray(0, cut);
    const { out, tap } = run(truncated, [10, 300], { stripUsage: true });
    expect(out.equals(truncated)).toBe(true);
    expect(tap.summary.done).toBe(false);
    expect(tap.summary.usage).toBeNull();
    expect(tap.summary.finishReason).toBeNull();
  });

  it("parses multi-line data, skips comments and keeps them in the output", () => {
    const json = JSON.stringify({ ...head, choices: [], usage });
    const input = Buffer.from(
      `: keep-alive\n\ndata: ${json.slice(0, 30)}\ndata: ${json.slice(30)}\n\ndata: [DONE]\n\n`,
    );
    // Multi-line data joins with "\n", which is JSON whitespace here only if the split is between
    // tokens; the cut at 30 falls inside a string, so this event is malformed on purpose.
    const { out, tap } = run(input, [5], { stripUsage: true });
    expect(tap.summary.malformedEvents).toBe(1);
    expect(out.equals(input)).toBe(true);

    const ok = Buffer.from(
      `: keep-alive\n\ndata: {"choices": [],\ndata: "usage": ${JSON.stringify(usage)}}\n\ndata: [DONE]\n\n`,
    );
    const stripped = run(ok, [3, 40], { stripUsage: true });
    expect(stripped.tap.summary.usage?.prompt_tokens).toBe(11);
    expect(stripped.out.toString()).toBe(": keep-alive\n\ndata: [DONE]\n\n");
  });

  it("records an error object sent inside the stream", () => {
    const err = { message: "overloaded", type: "server_error", param: null, code: null };
    const { tap } = run(Buffer.from(`${BLOCKS.role}\n\ndata: ${JSON.stringify({ error: err })}\n\n`), [], {
      stripUsage: false,
    });
    expect(tap.summary.error).toEqual(err);
    expect(tap.summary.done).toBe(false);
  });

  it("stops parsing, but keeps forwarding, when a block exceeds the cap", () => {
    const big = Buffer.from(`data: ${"x".repeat(5000)}\n\n${BLOCKS.usage}\n\ndata: [DONE]\n\n`);
    const stripped = run(big, [100, 2000, 4000], { stripUsage: true, maxBlockBytes: 1024 });
    expect(stripped.out.equals(big)).toBe(true);
    expect(stripped.tap.summary.overflow).toBe(true);
    const plain = run(big, [100, 2000], { stripUsage: false, maxBlockBytes: 1024 });
    expect(plain.out.equals(big)).toBe(true);
    expect(plain.tap.summary.overflow).toBe(true);
  });

  it("pumps a stream split anywhere through the tap to a writable (the proxy's pumpSse)", async () => {
    const input = stream("\r\n");
    const parts = [
      input.subarray(0, 50),
      input.subarray(50, 51),
      input.subarray(51, 700),
      input.subarray(700),
    ];
    const tap = new SseUsageTap({ stripUsage: true });
    const out: Buffer[] = [];
    await pumpSse(
      Readable.from(parts),
      tap,
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c);
          cb();
        },
      }),
    );
    expect(Buffer.concat(out).equals(stream("\r\n", ["usage"]))).toBe(true);
    expectFullSummary(tap);
  });
});
