import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JsonUsageTap, summarizeCompletion } from "../../src/gateway/json-usage.js";
import {
  buildPriceTable,
  costUsd,
  loadPriceTable,
  PriceTable,
  resolvePrice,
  trainingCostUsd,
} from "../../src/gateway/pricing.js";
import { parseUsage } from "../../src/gateway/usage.js";

const usage = (prompt: number, completion: number, cached = 0) =>
  parseUsage({
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  });

describe("price table", () => {
  const table = buildPriceTable();

  it("ships list prices for the common OpenAI models", () => {
    expect(table.lookup("gpt-4o-mini")).toEqual({
      input_per_mtok: 0.15,
      cached_input_per_mtok: 0.075,
      output_per_mtok: 0.6,
      training_per_mtok: 3,
    });
    expect(table.lookup("gpt-4.1")).toMatchObject({ input_per_mtok: 2, output_per_mtok: 8 });
    expect(table.lookup("gpt-4.1-nano")).toMatchObject({ input_per_mtok: 0.1, output_per_mtok: 0.4 });
    expect(table.lookup("o3-mini")).toMatchObject({ input_per_mtok: 1.1, output_per_mtok: 4.4 });
    expect(table.lookup("gpt-3.5-turbo")?.cached_input_per_mtok).toBeUndefined();
    // A dated snapshot with its own, different price is listed exactly.
    expect(table.lookup("gpt-4o-2024-05-13")).toMatchObject({ input_per_mtok: 5, output_per_mtok: 15 });
  });

  it("prices fine-tuning by the base model's training price per million trained tokens", () => {
    expect(trainingCostUsd(table, "gpt-4.1-mini-2025-04-14", 6_000_000)).toEqual({ cost: 30, note: null });
    expect(trainingCostUsd(table, "gpt-4o-mini-2024-07-18", 1_000_000)).toEqual({ cost: 3, note: null });
    // No training price (an open model, or an inference-only entry): unknown, never 0.
    expect(trainingCostUsd(table, "o3-mini", 1000)).toEqual({
      cost: null,
      note: "no training price for 'o3-mini' in the price table",
    });
    expect(trainingCostUsd(table, "gpt-4.1", null)).toEqual({
      cost: null,
      note: "the trainer did not report trained_tokens",
    });
    const custom = buildPriceTable({
      "acme-8b": { input_per_mtok: 0, output_per_mtok: 0, training_per_mtok: 0.5 },
    });
    expect(trainingCostUsd(custom, "acme-8b", 2_000_000).cost).toBe(1);
  });

  it("prices OpenAI fine-tunes by their base model, longest pattern first", () => {
    expect(table.lookup("ft:gpt-4o-mini-2024-07-18:acme:support-coord:9abc")).toMatchObject({
      input_per_mtok: 0.3,
      output_per_mtok: 1.2,
    });
    expect(table.lookup("ft:gpt-4o-2024-08-06:acme::xyz")).toMatchObject({ input_per_mtok: 3.75 });
    expect(table.lookup("ft:gpt-4.1-nano-2025-04-14:acme::1")).toMatchObject({ input_per_mtok: 0.2 });
    expect(table.lookup("ft:gpt-4.1-2025-04-14:acme::1")).toMatchObject({ input_per_mtok: 3 });
  });

  it("uses an exact ft:<base> entry before patterns", () => {
    const t = new PriceTable({
      "ft:gpt-4o*": { input_per_mtok: 1, output_per_mtok: 1 },
      "ft:gpt-4o-2024-08-06": { input_per_mtok: 9, output_per_mtok: 9 },
    });
    expect(t.lookup("ft:gpt-4o-2024-08-06:org::id")?.input_per_mtok).toBe(9);
    expect(t.lookup("ft:gpt-4o-2024-11-20:org::id")?.input_per_mtok).toBe(1);
  });

  it("returns null for unknown models instead of a zero price", () => {
    expect(table.lookup("llama-3.1-8b-instruct")).toBeNull();
    expect(table.lookup("my-lora-adapter")).toBeNull();
    // No fallback from a fine-tune to its base model's (lower) price.
    expect(table.lookup("ft:davinci-002:org::x")).toBeNull();
    // Exact names are exact: a prefix of a listed model is not that model.
    expect(table.lookup("gpt-4")).toBeNull();
  });

  it("merges an override file over the defaults, null removing an entry", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "prices-"));
    const file = path.join(dir, "prices.json");
    await writeFile(
      file,
      JSON.stringify({
        models: {
          "gpt-4o-mini": { input_per_mtok: 1, output_per_mtok: 2 },
          "llama-*": { input_per_mtok: 0, output_per_mtok: 0 },
          "gpt-3.5-turbo": null,
        },
      }),
    );
    const t = await loadPriceTable(file);
    expect(t.lookup("gpt-4o-mini")).toEqual({ input_per_mtok: 1, output_per_mtok: 2 });
    expect(t.lookup("llama-3.1-8b")).toEqual({ input_per_mtok: 0, output_per_mtok: 0 });
    expect(t.lookup("gpt-3.5-turbo")).toBeNull();
    expect(t.lookup("gpt-4.1")).toMatchObject({ input_per_mtok: 2 });
    expect(t.version).not.toBe(table.version);
  });

  it("rejects a bad override file with a message naming the file and the field", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "prices-"));
    const bad = path.join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify({ models: { "gpt-4o": { input_per_mtok: -1, output_per_mtok: 1 } } }),
    );
    await expect(loadPriceTable(bad)).rejects.toThrow(/bad\.json: models\.gpt-4o\.input_per_mtok/);
    const typo = path.join(dir, "typo.json");
    await writeFile(typo, JSON.stringify({ models: { "gpt-4o": { input_per_mtok: 1, ouput_per_mtok: 1 } } }));
    await expect(loadPriceTable(typo)).rejects.toThrow(/typo\.json/);
    const notJson = path.join(dir, "not.json");
    await writeFile(notJson, "{models:");
    await expect(loadPriceTable(notJson)).rejects.toThrow(/not valid JSON/);
    await expect(loadPriceTable(path.join(dir, "missing.json"))).rejects.toThrow(/cannot read price file/);
  });

  it("has a stable content version", () => {
    expect(buildPriceTable().version).toBe(table.version);
    expect(table.version).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe("resolvePrice and costUsd", () => {
  const table = buildPriceTable();

  it("prefers the version's own pricing", () => {
    const own = { input_per_mtok: 7, output_per_mtok: 8 };
    expect(resolvePrice(table, "gpt-4o-mini", own)).toEqual({ price: own, source: "version" });
    expect(resolvePrice(table, "gpt-4o-mini", null)?.source).toBe("table");
    expect(resolvePrice(table, "unknown-model")).toBeNull();
  });

  it("computes USD cost from prompt and completion tokens", () => {
    // gpt-4o-mini: 1M prompt tokens at $0.15 + 1M completion at $0.60.
    expect(costUsd(usage(1_000_000, 1_000_000), table.lookup("gpt-4o-mini"))).toBeCloseTo(0.75, 10);
    expect(costUsd(usage(1200, 300), table.lookup("gpt-4.1"))).toBeCloseTo((1200 * 2 + 300 * 8) / 1e6, 12);
  });

  it("bills cached prompt tokens at the cached price when there is one", () => {
    const price = table.lookup("gpt-4o-mini");
    // 1000 prompt tokens of which 400 cached: 600 × 0.15 + 400 × 0.075 + 100 × 0.6.
    expect(costUsd(usage(1000, 100, 400), price)).toBeCloseTo(
      (600 * 0.15 + 400 * 0.075 + 100 * 0.6) / 1e6,
      12,
    );
    // Without a cached price, cached tokens cost the input price.
    expect(costUsd(usage(1000, 100, 400), { input_per_mtok: 1, output_per_mtok: 2 })).toBeCloseTo(
      (1000 * 1 + 100 * 2) / 1e6,
      12,
    );
  });

  it("is null, not 0, when the usage or the price is unknown", () => {
    expect(costUsd(null, table.lookup("gpt-4o"))).toBeNull();
    expect(costUsd(usage(10, 10), null)).toBeNull();
    expect(costUsd(usage(0, 0), table.lookup("gpt-4o"))).toBe(0);
  });
});

describe("usage parsing", () => {
  it("validates counts and caps details by their totals", () => {
    expect(parseUsage({ prompt_tokens: 5, completion_tokens: 2 })).toEqual({
      prompt_tokens: 5,
      completion_tokens: 2,
      total_tokens: 7,
      cached_tokens: 0,
      reasoning_tokens: 0,
    });
    expect(
      parseUsage({ prompt_tokens: 5, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 9 } })
        ?.cached_tokens,
    ).toBe(5);
    expect(parseUsage({ prompt_tokens: "5", completion_tokens: 2 })).toBeNull();
    expect(parseUsage({ prompt_tokens: -1, completion_tokens: 2 })).toBeNull();
    expect(parseUsage(null)).toBeNull();
  });
});

describe("JSON usage tap", () => {
  const body = JSON.stringify({
    id: "x",
    object: "chat.completion",
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "length" }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });

  it("summarizes a completion split in chunks", () => {
    const tap = new JsonUsageTap();
    const buf = Buffer.from(body);
    for (let i = 0; i < buf.length; i += 7) tap.push(buf.subarray(i, i + 7));
    expect(tap.finish()).toMatchObject({
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      model: "gpt-4o-mini-2024-07-18",
      finishReason: "length",
      malformed: false,
      tooLarge: false,
      bytes: buf.length,
    });
  });

  it("flags malformed and oversized bodies", () => {
    expect(summarizeCompletion(body.slice(0, 40), 40).malformed).toBe(true);
    expect(summarizeCompletion("<html></html>", 13).malformed).toBe(true);
    expect(summarizeCompletion("[1,2]", 5).malformed).toBe(true);
    const tap = new JsonUsageTap(10);
    tap.push(Buffer.from(body));
    expect(tap.finish()).toMatchObject({ tooLarge: true, usage: null, malformed: false });
  });
});
