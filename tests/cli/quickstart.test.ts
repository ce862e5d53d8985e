/**
 * The quickstart through the operator verbs: the real CLI in a child process against a real
 * instance, checking both the tables people read and the `--json` scripts parse.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestInstance, type TestInstance } from "../helpers/instance.js";
import { expectOk, json, killAll, runCli } from "./cli.js";

describe("agentgate CLI quickstart", () => {
  let t: TestInstance;
  let tmp: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    t = await startTestInstance("pglite");
    tmp = mkdtempSync(path.join(os.tmpdir(), "agentgate-cli-"));
    env = { AGENTGATE_URL: t.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await killAll();
    await t?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("runs the quickstart: register, promote, pin, roll back, unpin, audit", {
    timeout: 90_000,
  }, async () => {
    let r = await cli(
      "upstreams",
      "create",
      "fake",
      "--base-url",
      "http://127.0.0.1:9/v1",
      "--api-key-env",
      "FAKE_KEY",
      "--timeout-ms",
      "5000",
    );
    expectOk(r);
    expect(r.stdout).toContain("Created upstream 'fake'.");
    expect(r.stdout).toMatch(/^timeout_ms\s+5000$/m);
    expect(r.stdout).toMatch(/^api_key_env\s+FAKE_KEY$/m);

    r = await cli("upstreams", "show", "fake");
    expectOk(r);
    expect(r.stdout).toMatch(/^base_url\s+http:\/\/127\.0\.0\.1:9\/v1$/m);

    r = await cli("upstreams", "list", "--json");
    expectOk(r);
    expect(json<{ data: unknown[] }>(r).data).toEqual([
      expect.objectContaining({ name: "fake", api_key_env: "FAKE_KEY", timeout_ms: 5000 }),
    ]);

    // Global options as flags (after the subcommand) instead of the environment.
    r = await runCli([
      "systems",
      "create",
      "support",
      "--topology",
      "hierarchical",
      "--description",
      "Customer support",
      "--url",
      t.url,
      "--token",
      ADMIN_TOKEN,
    ]);
    expectOk(r);
    r = await cli("systems", "list");
    expectOk(r);
    expect(r.stdout).toMatch(/^NAME\s+TOPOLOGY\s+AGENTS\s+DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^support\s+hierarchical\s+0\s+Customer support$/m);

    // The server's bootstrap token variable works as the CLI's token too.
    r = await runCli(["agents", "create", "support/coordinator", "--role", "coordinator"], {
      AGENTGATE_URL: t.url,
      AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    expectOk(r);
    expect(r.stdout).toContain("Created agent 'support/coordinator'.");

    r = await cli(
      "versions",
      "register",
      "support/coordinator",
      "--kind",
      "base_optimized",
      "--upstream",
      "fake",
      "--model",
      "gpt-4o-mini",
      "--system-prompt",
      "Answer briefly.",
      "--params",
      '{"temperature":0.2}',
      "--tag",
      "team=support",
      "--tag",
      "stage=dev",
    );
    expectOk(r);
    expect(r.stdout).toContain(
      "Registered support/coordinator version 1 (base_optimized, fake/gpt-4o-mini).",
    );
    expect(r.stdout).toMatch(/^tags\s+team=support, stage=dev$/m);

    // A saved body with flags on top: the flags win, prompt pieces and tags merge.
    const bodyFile = path.join(tmp, "version.json");
    const promptFile = path.join(tmp, "prompt.json");
    writeFileSync(
      bodyFile,
      JSON.stringify({
        kind: "fine_tuned",
        upstream: "fake",
        model: "placeholder",
        lineage: { parent_version: 1, dataset: "ds-1", base_model: "gpt-4o-mini" },
        tags: { team: "support" },
      }),
    );
    writeFileSync(
      promptFile,
      JSON.stringify({
        system: "You coordinate.",
        demos: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
        ],
      }),
    );
    r = await cli(
      "versions",
      "register",
      "support/coordinator",
      "--from-file",
      bodyFile,
      "--model",
      "ft:gpt-4o-mini:acme::1",
      "--prompt-file",
      promptFile,
      "--prompt-mode",
      "prepend",
      "--training-cost",
      "12.5",
      "--tag",
      "stage=ft",
      "--json",
    );
    expectOk(r);
    expect(json(r)).toMatchObject({
      version: 2,
      kind: "fine_tuned",
      upstream: "fake",
      model: "ft:gpt-4o-mini:acme::1",
      lineage: { parent_version: 1, dataset: "ds-1", base_model: "gpt-4o-mini" },
      training_cost_usd: 12.5,
      tags: { team: "support", stage: "ft" },
      prompt: {
        system: "You coordinate.",
        mode: "prepend",
        demos: [{ role: "user" }, { role: "assistant" }],
      },
    });

    r = await cli("versions", "list", "support/coordinator");
    expectOk(r);
    expect(r.stdout).toMatch(/^1\s+base_optimized\s+fake\s+gpt-4o-mini\s+champion\s/m);
    expect(r.stdout).toMatch(/^2\s+fine_tuned\s+fake\s+ft:gpt-4o-mini:acme::1\s/m);

    r = await cli("versions", "show", "support/coordinator", "1", "--json");
    expectOk(r);
    expect(json(r)).toMatchObject({
      version: 1,
      params: { temperature: 0.2 },
      prompt: { system: "Answer briefly." },
      aliases: ["champion"],
    });

    r = await cli("alias", "support/coordinator", "champion", "2", "--reason", "fine-tune wins offline eval");
    expectOk(r);
    expect(r.stdout).toBe("support/coordinator: alias champion -> version 2\n");

    r = await cli("alias", "support/coordinator", "champion");
    expectOk(r);
    expect(r.stdout).toMatch(/^support\/coordinator: alias champion -> version 2 \(set by bootstrap-admin/);
    expect(r.stdout).toMatch(/\salias\.set\s+1\s+2\s+bootstrap-admin\s+fine-tune wins offline eval$/m);
    r = await cli("alias", "support/coordinator", "champion", "--json");
    expectOk(r);
    const alias = json<{ version: number; history: Record<string, unknown>[] }>(r);
    expect(alias.version).toBe(2);
    expect(alias.history).toHaveLength(2);
    expect(alias.history[0]).toMatchObject({
      from_version: 1,
      to_version: 2,
      reason: "fine-tune wins offline eval",
    });

    r = await cli("pin", "support/coordinator", "2", "--reason", "incident-42");
    expectOk(r);
    expect(r.stdout).toBe("support/coordinator: pinned to version 2\n");

    r = await cli("agents", "show", "support/coordinator");
    expectOk(r);
    expect(r.stdout).toMatch(/^champion\s+2$/m);
    expect(r.stdout).toMatch(/^aliases\s+champion=2$/m);
    expect(r.stdout).toMatch(/^pin\s+version 2 by bootstrap-admin at \S+ \(incident-42\)$/m);

    r = await cli("rollback", "support/coordinator", "--reason", "error rate up");
    expectOk(r);
    expect(r.stdout).toBe("support/coordinator: champion 2 -> 1 (pin moved too)\n");

    r = await cli("agents", "show", "support/coordinator", "--json");
    expectOk(r);
    expect(json(r)).toMatchObject({ champion: 1, pin: { version: 1, reason: "error rate up" } });

    r = await cli("unpin", "support/coordinator", "--reason", "resolved");
    expectOk(r);
    expect(r.stdout).toBe("support/coordinator: unpinned\n");
    r = await cli("agents", "list", "support", "--json");
    expectOk(r);
    expect(json(r)).toMatchObject({ data: [{ name: "coordinator", champion: 1, pin: null, versions: 2 }] });

    r = await cli("audit", "--object", "support/coordinator");
    expectOk(r);
    expect(r.stdout).toMatch(/^ID\s+AT\s+ACTOR\s+ACTION\s+OBJECT\s+CHANGE\s+REASON$/m);
    expect(r.stdout).toMatch(/\sbootstrap-admin\s+pin\.delete\s+agent:support\/coordinator\s.*\sresolved$/m);
    expect(r.stdout).toMatch(/\srollback\s+agent:support\/coordinator\s.*\serror rate up$/m);
    expect(r.stdout).toMatch(/\spin\.set\s+agent:support\/coordinator\s.*\sincident-42$/m);

    r = await cli("audit", "--object", "support/coordinator", "--json");
    expectOk(r);
    const audit = json<{ data: { action: string; object_key: string }[] }>(r);
    expect(audit.data.map((e) => e.action)).toEqual([
      "pin.delete",
      "rollback.pin",
      "rollback",
      "pin.set",
      "alias.set",
      "version.register",
      "alias.set",
      "version.register",
      "agent.create",
    ]);

    r = await cli("audit", "--action", "pin.set", "--limit", "5", "--json");
    expectOk(r);
    expect(json(r)).toMatchObject({
      data: [{ action: "pin.set", reason: "incident-42" }],
      next_before: null,
    });

    // A body piped on stdin, then a second alias that can be removed (champion cannot).
    r = await runCli(["versions", "register", "support/coordinator", "--from-file", "-", "--json"], env, {
      input: JSON.stringify({ kind: "fine_tuned", upstream: "fake", model: "ft:gpt-4o-mini:acme::2" }),
    });
    expectOk(r);
    expect(json(r)).toMatchObject({ version: 3, model: "ft:gpt-4o-mini:acme::2" });
    r = await cli("alias", "support/coordinator", "staging", "3");
    expectOk(r);
    expect(r.stdout).toBe("support/coordinator: alias staging -> version 3\n");
    r = await cli("alias", "support/coordinator", "staging", "--delete", "--reason", "done", "--json");
    expectOk(r);
    expect(json(r)).toEqual({ system: "support", agent: "coordinator", alias: "staging", deleted: true });
    r = await cli("alias", "support/coordinator", "staging");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\(alias_not_found\)\n$/);
  });
});
