/**
 * `agentgate experiments`: define, start, pause and stop an A/B test through the real CLI, and
 * check that the gateway then routes by arm.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseArm } from "../../src/cli/commands/experiments.js";
import { type Gateway, routingSettled, seedSystem, startGateway } from "../helpers/dataplane.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { expectOk, json, killAll, runCli } from "./cli.js";

describe("agentgate experiments", () => {
  let g: Gateway;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    g = await startGateway("pglite");
    await seedSystem(g, "support", ["coordinator", "writer"]);
    env = { AGENTGATE_URL: g.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await killAll();
    await g?.close();
  });

  it("parses arm specs, with the short form for agent-scoped experiments", () => {
    expect(parseArm("ft:30:coordinator=2,writer=1", undefined)).toEqual({
      name: "ft",
      weight: 30,
      versions: { coordinator: 2, writer: 1 },
    });
    expect(parseArm("control:1:1", "coordinator")).toEqual({
      name: "control",
      weight: 1,
      versions: { coordinator: 1 },
    });
    expect(() => parseArm("bad:0:coordinator=1", undefined)).toThrow(/expected/);
    expect(() => parseArm("ft:1:coordinator=x", undefined)).toThrow(/not <agent>=<version number>/);
  });

  it("creates, starts, pauses and stops a system-scoped experiment that the gateway follows", {
    timeout: 60_000,
  }, async () => {
    let r = await cli(
      "--json",
      "experiments",
      "create",
      "all-ft",
      "--system",
      "support",
      "--arm",
      "control:1:coordinator=1,writer=1",
      "--arm",
      "ft:1:coordinator=2,writer=2",
    );
    expectOk(r);
    const created = json<{ id: number; status: string; arms: { name: string }[] }>(r);
    expect(created.status).toBe("draft");
    expect(created.arms.map((a) => a.name)).toEqual(["control", "ft"]);

    r = await cli("experiments", "start", String(created.id));
    expectOk(r);
    expect(r.stdout).toContain(`experiment ${created.id} 'all-ft': running`);
    await routingSettled(g);
    const arms = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await g
        .client()
        .chat.completions.create(
          { model: "agent:support/writer", messages: [{ role: "user", content: "x" }] },
          { headers: { "X-Session-Id": `s${i}` } },
        )
        .withResponse();
      expect(res.response.headers.get("x-agentgate-route")).toBe("experiment");
      arms.add(res.response.headers.get("x-agentgate-arm") ?? "");
    }
    expect([...arms].sort()).toEqual(["control", "ft"]);

    r = await cli("experiments", "list", "--status", "running");
    expectOk(r);
    expect(r.stdout).toMatch(new RegExp(`^${created.id}\\s+all-ft\\s+running\\s+support\\s+session`, "m"));

    r = await cli("experiments", "pause", String(created.id));
    expectOk(r);
    await routingSettled(g);
    const paused = await g
      .client()
      .chat.completions.create({ model: "agent:support/writer", messages: [{ role: "user", content: "x" }] })
      .withResponse();
    expect(paused.response.headers.get("x-agentgate-route")).toBe("champion");

    r = await cli("experiments", "stop", String(created.id), "--reason", "done");
    expectOk(r);
    expect(r.stdout).toContain("stopped (done)");
    r = await cli("experiments", "start", String(created.id));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("invalid_state");
  });

  it("refuses a malformed arm before calling the server", async () => {
    const r = await cli("experiments", "create", "x", "--system", "support", "--arm", "nonsense");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^agentgate: --arm 'nonsense'/);
  });
});
