/**
 * Cost of a call = tokens × a price in USD per million tokens. Where the price comes from, first
 * match wins:
 *   1. the version's own `pricing` (fine-tuned and self-hosted models rarely have a list price);
 *   2. the price table: shipped defaults (`prices.json`, OpenAI list prices, meant to be
 *      overridden) with an optional override file of the same shape merged over them.
 * Inside the table: the exact model name; then for OpenAI fine-tunes (`ft:<base>:<org>:...`) the
 * exact `ft:<base>`; then the longest prefix pattern (a key ending in `*`). No match means the cost
 * is unknown (null), never 0: a silent zero would make an unpriced arm look free in a report.
 *
 * The table carries a short content hash (`version`) so an experiment can record which prices its
 * costs were computed with.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { pricing as pricingSchema } from "../registry/schemas.js";
import defaults from "./prices.json" with { type: "json" };
import type { Pricing } from "./routing-table.js";
import type { Usage } from "./usage.js";

/** `training_per_mtok`: what fine-tuning this (base) model costs per million trained tokens. */
export type Price = Pricing & { training_per_mtok?: number };

const priceEntry = pricingSchema.extend({ training_per_mtok: z.number().min(0).optional() });

const priceFile = z.looseObject({
  models: z.record(z.string().min(1, "model name must not be empty"), priceEntry.nullable()),
});

/** Largest number of distinct model names whose lookup result is remembered. */
const MEMO_LIMIT = 10_000;

export class PriceTable {
  readonly version: string;
  private readonly exact = new Map<string, Price>();
  /** Prefix patterns, longest first. */
  private readonly patterns: { prefix: string; price: Price }[] = [];
  private readonly memo = new Map<string, Price | null>();

  constructor(readonly entries: Readonly<Record<string, Price>>) {
    for (const [key, price] of Object.entries(entries)) {
      if (key.endsWith("*")) this.patterns.push({ prefix: key.slice(0, -1), price });
      else this.exact.set(key, price);
    }
    this.patterns.sort((a, b) => b.prefix.length - a.prefix.length);
    const canonical = JSON.stringify(
      Object.keys(entries)
        .sort()
        .map((k) => [k, entries[k]]),
    );
    this.version = createHash("sha256").update(canonical).digest("hex").slice(0, 12);
  }

  /** The price of `model`, or null when the table does not know it. */
  lookup(model: string): Price | null {
    const hit = this.memo.get(model);
    if (hit !== undefined) return hit;
    const price = this.find(model);
    if (this.memo.size < MEMO_LIMIT) this.memo.set(model, price);
    return price;
  }

  private find(model: string): Price | null {
    const exact = this.exact.get(model);
    if (exact) return exact;
    if (model.startsWith("ft:")) {
      const base = model.slice(3).split(":", 1)[0] as string;
      const ft = this.exact.get(`ft:${base}`);
      if (ft) return ft;
    }
    for (const p of this.patterns) if (model.startsWith(p.prefix)) return p.price;
    return null;
  }
}

/** Validates a price document (`{"models": {"<name or prefix*>": price | null}}`). */
export function parsePriceDocument(doc: unknown, source: string): Record<string, Price | null> {
  const parsed = priceFile.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "document";
    throw new Error(`invalid price file ${source}: ${where} ${issue?.message ?? "is invalid"}`);
  }
  return parsed.data.models;
}

const DEFAULT_ENTRIES = parsePriceDocument(defaults, "prices.json (shipped defaults)") as Record<
  string,
  Price
>;

/** Defaults with `overrides` merged over them; an override of `null` removes a default entry. */
export function buildPriceTable(overrides: Record<string, Price | null> = {}): PriceTable {
  const merged: Record<string, Price> = { ...DEFAULT_ENTRIES };
  for (const [key, price] of Object.entries(overrides)) {
    if (price === null) delete merged[key];
    else merged[key] = price;
  }
  return new PriceTable(merged);
}

/** The shipped defaults, merged with the JSON price file at `overridePath` when one is given. */
export async function loadPriceTable(overridePath?: string): Promise<PriceTable> {
  if (!overridePath) return buildPriceTable();
  let text: string;
  try {
    text = await readFile(overridePath, "utf8");
  } catch (err) {
    throw new Error(`cannot read price file ${overridePath}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`price file ${overridePath} is not valid JSON: ${(err as Error).message}`);
  }
  return buildPriceTable(parsePriceDocument(doc, overridePath));
}

export type ResolvedPrice = { price: Price; source: "version" | "table" };

/** The price for a call served by `model`, the version's own pricing taking precedence. */
export function resolvePrice(
  table: PriceTable,
  model: string,
  versionPricing?: Price | null,
): ResolvedPrice | null {
  if (versionPricing) return { price: versionPricing, source: "version" };
  const price = table.lookup(model);
  return price ? { price, source: "table" } : null;
}

/**
 * USD cost of a fine-tune: trained tokens (billable, epochs included) × the base model's training
 * price. Null with the reason when the table has no training price or the trainer no token count.
 */
export function trainingCostUsd(
  table: PriceTable,
  baseModel: string,
  trainedTokens: number | null,
): { cost: number | null; note: string | null } {
  const price = table.lookup(baseModel)?.training_per_mtok;
  if (price === undefined)
    return { cost: null, note: `no training price for '${baseModel}' in the price table` };
  if (trainedTokens === null) return { cost: null, note: "the trainer did not report trained_tokens" };
  return { cost: (trainedTokens * price) / 1_000_000, note: null };
}

/**
 * USD cost of one call. Cached prompt tokens are part of `prompt_tokens`; they are billed at the
 * cached price when the price has one, else at the input price. Reasoning tokens are already part
 * of `completion_tokens`. Unknown usage or price → null.
 */
export function costUsd(usage: Usage | null, price: Price | null | undefined): number | null {
  if (!usage || !price) return null;
  const cached = price.cached_input_per_mtok === undefined ? 0 : usage.cached_tokens;
  const uncached = usage.prompt_tokens - cached;
  const micro =
    uncached * price.input_per_mtok +
    cached * (price.cached_input_per_mtok ?? price.input_per_mtok) +
    usage.completion_tokens * price.output_per_mtok;
  return micro / 1_000_000;
}
