import { setTimeout as sleep } from "node:timers/promises";
import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { assign } from "../../src/gateway/assignment.js";
import { newRequestId } from "../../src/gateway/request-id.js";

/** The Unix time in milliseconds held by a UUIDv7's first 48 bits. */
const msOf = (id: string) => Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);

describe("newRequestId", () => {
  it("makes valid UUIDv7s carrying the time they were made", () => {
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, newRequestId);
    const after = Date.now();
    for (const id of ids) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect(id[19]).toMatch(/[89ab]/); // RFC 9562 variant
      expect(msOf(id)).toBeGreaterThanOrEqual(before);
      expect(msOf(id)).toBeLessThanOrEqual(after);
    }
  });

  it("never repeats, across refills of its random pool", () => {
    const ids = Array.from({ length: 100_000 }, newRequestId);
    expect(new Set(ids).size).toBe(ids.length);
    // Distinct random parts, not only distinct times: the pool is refilled, never reused.
    expect(new Set(ids.map((id) => id.slice(15))).size).toBe(ids.length);
  });

  it("sorts by time as text, so the events' primary key grows at its end", async () => {
    const earlier = Array.from({ length: 50 }, newRequestId);
    await sleep(3);
    const later = Array.from({ length: 50 }, newRequestId);
    const earliestLater = [...later].sort()[0] as string;
    for (const id of earlier) expect(id < earliestLater).toBe(true);
  });

  it("keeps per-request experiment assignment even (the unit key of a call without session or user)", () => {
    // Only the time part of neighbouring ids is alike; the hash must still spread them evenly.
    const n = 40_000;
    const weights = [50, 30, 20];
    const counts = weights.map(() => 0);
    for (let i = 0; i < n; i++) {
      const { arm } = assign("exp-salt", `request:${newRequestId()}`, weights);
      counts[arm] = (counts[arm] ?? 0) + 1;
    }
    // ±1.5 points: six standard deviations of a fair draw at this size.
    counts.forEach((c, arm) => {
      expect(Math.abs(c / n - (weights[arm] as number) / 100)).toBeLessThan(0.015);
    });
  });
});
