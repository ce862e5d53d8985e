/**
 * A full garbage collection between a server's sixth and seventh call must not leave its
 * responses dictionary-mode objects (src/http/object-shapes.ts): agentgate settles their layout
 * before it serves. The plain server shows what happens without.
 */
import { describe, expect, it } from "vitest";
import { spawnTsx } from "../helpers/gateway-process.js";

const NODE_ARGS = ["--allow-natives-syntax", "--expose-gc"];

async function responsesFast(mode: "plain" | "settled" | "agentgate"): Promise<boolean[]> {
  const run = spawnTsx("tests/helpers/http-shapes-child.ts", {}, undefined, [mode], NODE_ARGS);
  const exit = await run.exited;
  if (exit.code !== 0) throw new Error(`child exited ${exit.code}: ${run.stderr()}`);
  return JSON.parse(run.stdout().trim().split("\n").at(-1) as string) as boolean[];
}

describe("node:http object layout", { timeout: 60_000 }, () => {
  it("without settling, a collection after six calls turns every later response into a dictionary", async () => {
    const fast = await responsesFast("plain");
    expect(fast).toHaveLength(16);
    expect(fast.slice(0, 6)).toEqual(Array(6).fill(true));
    expect(fast.slice(6)).toEqual(Array(10).fill(false));
  });

  it("settled first, every response keeps fast properties", async () => {
    expect(await responsesFast("settled")).toEqual(Array(16).fill(true));
  });

  it("agentgate's server settles them before it serves", async () => {
    const fast = await responsesFast("agentgate");
    expect(fast.length).toBeGreaterThanOrEqual(16);
    expect(fast.every(Boolean)).toBe(true);
  });
});
