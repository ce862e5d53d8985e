/**
 * How the operator verbs fail: server errors with their code, scopes, unreachable servers and
 * local validation, each as one stderr line and the documented exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";
import { expectOk, expectOneLineError, freePort, json, killAll, runCli } from "./cli.js";

// Concurrent: the tests share one server but touch disjoint objects (their own tokens).
describe.concurrent("agentgate CLI failures", () => {
  let t: TestInstance;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    t = await startTestInstance("pglite");
    env = { AGENTGATE_URL: t.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
    await seedAgent(t, { system: "errs", agent: "known", versions: 1 });
  });
  afterAll(async () => {
    await killAll();
    await t?.close();
  });

  it("reports a server error with its message and code, and exits 1", async () => {
    const r = await cli("agents", "show", "errs/nobody");
    expect(expectOneLineError(r, 1)).toMatch(/^agentgate: .*'errs\/nobody'.* \(agent_not_found\)\n$/);
  });

  it("refuses a write with a read-only token, then rejects it once revoked", async () => {
    let r = await cli("tokens", "create", "ci-reader", "--scopes", "read", "--json");
    expectOk(r);
    const { token, scopes } = json<{ token: string; scopes: string[] }>(r);
    expect(scopes).toEqual(["read"]);
    expect(token).toMatch(/^agk_/);

    r = await runCli(["systems", "create", "other", "--topology", "custom"], {
      AGENTGATE_URL: t.url,
      AGENTGATE_TOKEN: token,
    });
    expect(expectOneLineError(r, 1)).toMatch(/^agentgate: .*'write'.* \(insufficient_scope\)\n$/);

    r = await runCli(["systems", "show", "errs"], { AGENTGATE_URL: t.url, AGENTGATE_TOKEN: token });
    expectOk(r);
    expect(r.stdout).toMatch(/^name\s+errs$/m);

    r = await cli("tokens", "list");
    expectOk(r);
    expect(r.stdout).toMatch(/^ci-reader\s+read\s+agk_\S+\s+active\s+bootstrap-admin\s/m);

    r = await cli("tokens", "revoke", "ci-reader");
    expectOk(r);
    expect(r.stdout).toMatch(/^Revoked token 'ci-reader'/);
    r = await runCli(["systems", "list"], { AGENTGATE_URL: t.url, AGENTGATE_TOKEN: token });
    expect(expectOneLineError(r, 1)).toMatch(/\(invalid_token\)\n$/);
  });

  it("prints a new token's secret once, on its own line", async () => {
    const r = await cli("tokens", "create", "ci-writer", "--scopes", "write,read");
    expectOk(r);
    expect(r.stdout).toContain("Created token 'ci-writer' with scopes write, read.");
    expect(r.stdout).toMatch(/^ {2}agk_[A-Za-z0-9_-]{20,}$/m);
  });

  it("says so when the server cannot be reached", async () => {
    const port = await freePort();
    const r = await cli("systems", "list", "--url", `http://127.0.0.1:${port}`);
    expect(expectOneLineError(r, 1)).toBe(
      `agentgate: cannot reach agentgate at http://127.0.0.1:${port} (connection refused)\n`,
    );
  });

  it("validates system/agent arguments and the token before any call (exit 2)", async () => {
    let r = await cli("agents", "show", "not-an-agent");
    expect(expectOneLineError(r, 2)).toMatch(
      /^agentgate: 'not-an-agent' is not an agent reference: .*system\/agent/,
    );
    r = await cli("pin", "errs/known", "two");
    expect(expectOneLineError(r, 2)).toMatch(/^agentgate: version must be a positive integer, got 'two'\n$/);
    r = await runCli(["systems", "list"], { AGENTGATE_URL: t.url });
    expect(expectOneLineError(r, 2)).toMatch(/^agentgate: this command needs an API token: .*--token/);
  });
});
