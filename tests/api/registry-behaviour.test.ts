/**
 * What the registry does with valid requests: alias history, pins, rollback semantics, upstream
 * changes, tokens, and an audit log that names the actor and is written with the change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNoChange } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";

type AuditEntry = {
  id: number;
  at: string;
  actor: string;
  action: string;
  object_type: string;
  object_key: string;
  before: unknown;
  after: unknown;
  reason: string | null;
};

const SECRET_ENV = "AGENTGATE_TEST_UPSTREAM_KEY";
const SECRET = "sk-test-this-value-must-never-be-stored-4f1c9a";

describe.each(backends())("registry behaviour on %s", (backend) => {
  let t: TestInstance;
  beforeAll(async () => {
    process.env[SECRET_ENV] = SECRET;
    t = await startTestInstance(backend);
  });
  afterAll(async () => {
    delete process.env[SECRET_ENV];
    await t?.close();
  });

  const api = (
    method: "get" | "post" | "put" | "patch" | "delete",
    path: string,
    body?: object,
    auth?: string,
  ) => {
    const req = t.http[method](path).set("authorization", auth ?? t.auth);
    return body ? req.send(body) : req;
  };
  const ok = async (method: "get" | "post" | "put" | "patch" | "delete", path: string, body?: object) => {
    const res = await api(method, path, body);
    expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
    return res.body;
  };
  const audit = async (query: Record<string, string>): Promise<AuditEntry[]> =>
    (await ok("get", `/api/v1/audit?${new URLSearchParams({ limit: "1000", ...query })}`)).data;

  it("keeps each alias's history, newest first", async () => {
    const { base } = await seedAgent(t, { agent: "history", versions: 3 });
    await ok("put", `${base}/aliases/canary`, { version: 2, reason: "try v2" });
    await ok("put", `${base}/aliases/canary`, { version: 3, reason: "try v3" });
    const moved = await ok("put", `${base}/aliases/canary`, { version: 1 });
    expect(moved).toMatchObject({ alias: "canary", version: 1, updated_by: "bootstrap-admin" });

    const canary = await ok("get", `${base}/aliases/canary`);
    expect(canary).toMatchObject({ alias: "canary", version: 1 });
    expect(
      canary.history.map((h: { from_version: number | null; to_version: number }) => [
        h.from_version,
        h.to_version,
      ]),
    ).toEqual([
      [3, 1],
      [2, 3],
      [null, 2],
    ]);
    expect(canary.history.map((h: { reason: string | null }) => h.reason)).toEqual([
      null,
      "try v3",
      "try v2",
    ]);
    for (const h of canary.history)
      expect(h).toMatchObject({ alias: "canary", action: "alias.set", actor: "bootstrap-admin" });

    const champion = await ok("get", `${base}/aliases/champion`);
    expect(champion.history).toEqual([
      expect.objectContaining({ from_version: null, to_version: 1, reason: "first version of the agent" }),
    ]);
    const aliases = await ok("get", `${base}/aliases`);
    expect(aliases.data.map((a: { alias: string; version: number }) => [a.alias, a.version])).toEqual([
      ["canary", 1],
      ["champion", 1],
    ]);
    const agent = await ok("get", base);
    expect(agent.aliases).toEqual({ canary: 1, champion: 1 });
    expect((await ok("get", `${base}/versions/1`)).aliases).toEqual(["canary", "champion"]);

    // Deleting an alias removes it, records the deletion, and keeps champion.
    expect((await api("delete", `${base}/aliases/canary`, { reason: "done" })).status).toBe(204);
    expectError(await api("get", `${base}/aliases/canary`), 404, "alias_not_found");
    expect((await ok("get", base)).aliases).toEqual({ champion: 1 });
    const [deleted] = await audit({ object: "support/history", action: "alias.delete" });
    expect(deleted).toMatchObject({
      before: { alias: "canary", version: 1 },
      after: { alias: "canary", version: null },
      reason: "done",
    });
  });

  it("shows a pin on the agent and its version, and removes it on unpin", async () => {
    const { base } = await seedAgent(t, { agent: "pinned", versions: 3 });
    const pin = await ok("put", `${base}/pin`, { version: 2, reason: "incident 42" });
    expect(pin).toEqual({
      system: "support",
      agent: "pinned",
      version: 2,
      reason: "incident 42",
      by: "bootstrap-admin",
    });
    const agent = await ok("get", base);
    expect(agent).toMatchObject({
      champion: 1,
      pin: { version: 2, reason: "incident 42", by: "bootstrap-admin" },
    });
    expect(agent.pin.at).toEqual(expect.any(String));
    expect((await ok("get", `${base}/versions/2`)).pinned).toBe(true);
    expect((await ok("get", `${base}/versions/1`)).pinned).toBe(false);

    // Re-pinning overrides.
    await ok("put", `${base}/pin`, { version: 3 });
    expect((await ok("get", base)).pin).toMatchObject({ version: 3, reason: null });

    expect((await api("delete", `${base}/pin`, { reason: "resolved" })).status).toBe(204);
    expect((await ok("get", base)).pin).toBeNull();
    expect((await ok("get", `${base}/versions/3`)).pinned).toBe(false);
    expectError(await api("delete", `${base}/pin`), 404, "pin_not_found");

    const entries = (await audit({ object: "support/pinned" })).filter((e) => e.action.startsWith("pin."));
    expect(entries.reverse().map((e) => [e.action, e.before, e.after, e.reason])).toEqual([
      ["pin.set", { pinned: null }, { pinned: 2 }, "incident 42"],
      ["pin.set", { pinned: 2 }, { pinned: 3 }, null],
      ["pin.delete", { pinned: 3 }, { pinned: null }, "resolved"],
    ]);
  });

  it("rolls back v3 → v2 → v1 without flip-flopping, then refuses", async () => {
    const { base } = await seedAgent(t, { agent: "rollback", versions: 3 });
    await ok("put", `${base}/aliases/champion`, { version: 2 });
    await ok("put", `${base}/aliases/champion`, { version: 3 });

    const first = await ok("post", `${base}/rollback`, { reason: "v3 is worse" });
    expect(first).toEqual({ system: "support", agent: "rollback", version: 2, previous: 3, pinned: false });
    expect((await ok("get", base)).champion).toBe(2);

    const second = await ok("post", `${base}/rollback`, {});
    expect(second).toMatchObject({ version: 1, previous: 2 });
    expect((await ok("get", base)).champion).toBe(1);

    expectError(await api("post", `${base}/rollback`), 409, "no_rollback_target");
    expect((await ok("get", base)).champion).toBe(1);

    const history = (await ok("get", `${base}/aliases/champion`)).history;
    expect(history.slice(0, 2)).toEqual([
      expect.objectContaining({ from_version: 2, to_version: 1, action: "rollback", reason: null }),
      expect.objectContaining({ from_version: 3, to_version: 2, action: "rollback", reason: "v3 is worse" }),
    ]);
    const rollbacks = await audit({ object: "support/rollback", action: "rollback" });
    expect(rollbacks.map((e) => e.after)).toEqual([
      { alias: "champion", version: 1 },
      { alias: "champion", version: 2 },
    ]);
  });

  it("rolls back to a named version, even a later one", async () => {
    const { base } = await seedAgent(t, { agent: "named", versions: 4 });
    await ok("put", `${base}/aliases/champion`, { version: 2 });
    expect(await ok("post", `${base}/rollback`, { version: 4, reason: "known good" })).toMatchObject({
      version: 4,
      previous: 2,
      pinned: false,
    });
    expect((await ok("get", base)).champion).toBe(4);
    // Rolling back to the current champion changes nothing and records nothing.
    const before = (await audit({ object: "support/named" })).length;
    expect(await ok("post", `${base}/rollback`, { version: 4 })).toMatchObject({ version: 4, previous: 4 });
    expect((await audit({ object: "support/named" })).length).toBe(before);
    // Without a version it walks back from 4, skipping 2: it was rolled back from.
    expect(await ok("post", `${base}/rollback`, {})).toMatchObject({ version: 1, previous: 4 });
  });

  it("moves the pin along with champion when the agent is pinned", async () => {
    const { base } = await seedAgent(t, { agent: "pinroll", versions: 3 });
    await ok("put", `${base}/aliases/champion`, { version: 3 });
    await ok("put", `${base}/pin`, { version: 3, reason: "canary" });
    const res = await ok("post", `${base}/rollback`, { reason: "errors" });
    expect(res).toEqual({ system: "support", agent: "pinroll", version: 1, previous: 3, pinned: true });
    const agent = await ok("get", base);
    expect(agent).toMatchObject({ champion: 1, pin: { version: 1, reason: "errors" } });
    const [entry] = await audit({ object: "support/pinroll", action: "rollback.pin" });
    expect(entry).toMatchObject({ before: { pinned: 3 }, after: { pinned: 1 }, reason: "errors" });

    // An explicit version moves both as well.
    expect(await ok("post", `${base}/rollback`, { version: 2 })).toMatchObject({ version: 2, pinned: true });
    expect(await ok("get", base)).toMatchObject({ champion: 2, pin: { version: 2 } });
  });

  it("versions are immutable and numbered per agent", async () => {
    const { base } = await seedAgent(t, { agent: "immutable", versions: 1 });
    const v2 = await ok("post", `${base}/versions`, {
      kind: "fine_tuned",
      upstream: "fake",
      model: "ft:gpt-4o-mini:org::abc",
      prompt: { system: "Be brief.", demos: [{ role: "user", content: "hi" }] },
      params: { temperature: 0.2 },
      lineage: { parent_version: 1, dataset: "ds-1", custom_key: "kept" },
      training_cost_usd: 12.5,
      pricing: { input_per_mtok: 0.3, output_per_mtok: 1.2 },
      tags: { team: "search" },
    });
    expect(v2).toMatchObject({
      version: 2,
      kind: "fine_tuned",
      prompt: { system: "Be brief.", mode: "replace", demos: [{ role: "user", content: "hi" }] },
      params: { temperature: 0.2 },
      lineage: { parent_version: 1, dataset: "ds-1", custom_key: "kept" },
      training_cost_usd: 12.5,
      tags: { team: "search" },
      created_by: "bootstrap-admin",
    });
    for (const method of ["put", "patch", "delete"] as const) {
      expectError(
        await expectNoChange(t, () => api(method, `${base}/versions/2`, { model: "other" })),
        404,
        "route_not_found",
      );
    }
    expect(await ok("get", `${base}/versions/2`)).toEqual(v2);
    // Numbers are per agent: another agent starts at 1.
    const other = await seedAgent(t, { agent: "immutable-other", versions: 1 });
    expect((await ok("get", `${other.base}/versions/1`)).version).toBe(1);
  });

  it("updates and deletes upstreams, keeping what an update leaves out", async () => {
    const created = await ok("post", "/api/v1/upstreams", {
      name: "vllm",
      base_url: "http://127.0.0.1:8000/v1",
      timeout_ms: 5000,
      connect_timeout_ms: 1000,
    });
    expect(created).toMatchObject({
      timeout_ms: 5000,
      connect_timeout_ms: 1000,
      first_byte_timeout_ms: 60_000,
    });

    const updated = await ok("patch", "/api/v1/upstreams/vllm", { base_url: "http://10.0.0.2:8000/v1" });
    expect(updated).toMatchObject({
      name: "vllm",
      base_url: "http://10.0.0.2:8000/v1",
      api_key_env: null,
      timeout_ms: 5000,
      connect_timeout_ms: 1000,
      first_byte_timeout_ms: 60_000,
    });
    expect(await ok("get", "/api/v1/upstreams/vllm")).toEqual(updated);
    const withKey = await ok("patch", "/api/v1/upstreams/vllm", {
      api_key_env: "VLLM_KEY",
      timeout_ms: 7000,
    });
    expect(withKey).toMatchObject({
      api_key_env: "VLLM_KEY",
      timeout_ms: 7000,
      base_url: "http://10.0.0.2:8000/v1",
    });
    const cleared = await ok("patch", "/api/v1/upstreams/vllm", { api_key_env: null });
    expect(cleared).toMatchObject({ api_key_env: null, timeout_ms: 7000 });

    const [entry] = await audit({ object_type: "upstream", object: "vllm", action: "upstream.update" });
    expect(entry).toMatchObject({ before: { api_key_env: "VLLM_KEY" }, after: { api_key_env: null } });

    expect((await api("delete", "/api/v1/upstreams/vllm")).status).toBe(204);
    expectError(await api("get", "/api/v1/upstreams/vllm"), 404, "upstream_not_found");
    const [deleted] = await audit({ object_type: "upstream", object: "vllm", action: "upstream.delete" });
    expect(deleted).toMatchObject({ before: { name: "vllm" }, after: null });
  });

  it("shows a token's secret once, never lists it, and honours its scope until revoked", async () => {
    const created = await api("post", "/api/v1/tokens", { name: "ci-bot", scopes: ["write", "write"] });
    expect(created.status).toBe(201);
    const secret: string = created.body.token;
    expect(secret).toMatch(/^agk_[A-Za-z0-9_-]{32}$/);
    expect(created.body).toMatchObject({
      name: "ci-bot",
      scopes: ["write"],
      created_by: "bootstrap-admin",
      revoked_at: null,
    });
    expect(secret.startsWith(created.body.prefix)).toBe(true);

    const list = await api("get", "/api/v1/tokens");
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toMatch(/token_hash|"token"/);
    for (const tk of list.body.data) {
      expect(Object.keys(tk).sort()).toEqual([
        "created_at",
        "created_by",
        "name",
        "prefix",
        "revoked_at",
        "scopes",
      ]);
    }
    // The secret is nowhere in the database either: only its hash.
    const rows = await t.gw.dbHandle.db("api_tokens").where({ name: "ci-bot" });
    expect(JSON.stringify(rows)).not.toContain(secret);
    const auditText = JSON.stringify(await audit({ object_type: "token" }));
    expect(auditText).not.toContain(secret);

    // The token works with its scope, is refused outside it, and is named in the audit log.
    const bot = `Bearer ${secret}`;
    const sys = await api("post", "/api/v1/systems", { name: "bot-made", topology: "custom" }, bot);
    expect(sys.status).toBe(201);
    expect((await api("get", "/api/v1/systems/bot-made", undefined, bot)).status).toBe(200);
    expectError(await api("get", "/api/v1/tokens", undefined, bot), 403, "insufficient_scope");
    const [made] = await audit({ object: "bot-made" });
    expect(made).toMatchObject({ actor: "ci-bot", action: "system.create", object_type: "system" });
    expect(await audit({ actor: "ci-bot" })).toHaveLength(1);

    const revoked = await api("delete", "/api/v1/tokens/ci-bot");
    expect(revoked.body).toMatchObject({ name: "ci-bot", revoked_at: expect.any(String) });
    expectError(await api("get", "/api/v1/systems", undefined, bot), 401, "invalid_token");
    const [rev] = await audit({ object: "ci-bot", action: "token.revoke" });
    expect(rev).toMatchObject({
      actor: "bootstrap-admin",
      before: { revoked: false },
      after: { revoked: true },
    });
  });

  it("audits every mutation with actor, before/after and reason, in its transaction", async () => {
    const { base } = await seedAgent(t, { agent: "audited", versions: 2 });
    const token = await ok("post", "/api/v1/tokens", { name: "oncall", scopes: ["write"] });
    const oncall = `Bearer ${token.token}`;
    expect((await api("put", `${base}/pin`, { version: 2, reason: "hotfix" }, oncall)).status).toBe(200);
    const [pin] = await audit({ object: "support/audited", action: "pin.set" });
    expect(pin).toMatchObject({
      actor: "oncall",
      object_type: "agent",
      object_key: "support/audited",
      before: { pinned: null },
      after: { pinned: 2 },
      reason: "hotfix",
    });
    expect(Date.parse(pin?.at ?? "")).not.toBeNaN();

    const entries = await audit({ object: "support/audited" });
    expect(entries.map((e) => e.action).reverse()).toEqual([
      "agent.create",
      "version.register",
      "alias.set",
      "version.register",
      "pin.set",
    ]);
    // Prefix filtering covers the whole system; ids page backwards.
    const system = await audit({ object: "support/" });
    expect(system.length).toBeGreaterThan(entries.length);
    expect(system.every((e) => e.object_key.startsWith("support/"))).toBe(true);
    const page = await ok("get", `/api/v1/audit?object=support/audited&limit=2`);
    expect(page.data).toHaveLength(2);
    expect(page.next_before).toBe(page.data[1].id);
    const rest = await ok("get", `/api/v1/audit?object=support/audited&limit=10&before=${page.next_before}`);
    expect(rest.data.map((e: AuditEntry) => e.id)).toEqual(entries.slice(2).map((e) => e.id));
    expect(rest.next_before).toBeNull();

    // A mutation that fails part-way leaves no trace: not the change, not an audit entry.
    for (const failing of [
      () => api("put", `${base}/pin`, { version: 9, reason: "typo" }, oncall),
      () => api("post", `${base}/versions`, { kind: "fine_tuned", upstream: "nowhere", model: "m" }, oncall),
      () =>
        api("post", `${base}/versions`, {
          kind: "fine_tuned",
          upstream: "fake",
          model: "m",
          lineage: { parent_version: 7 },
        }),
      () => api("post", "/api/v1/systems/support/agents", { name: "audited" }),
      () => api("delete", "/api/v1/upstreams/fake"),
    ]) {
      const res = await expectNoChange(t, failing);
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    expect(await audit({ object: "support/audited" })).toHaveLength(entries.length);
  });

  it("stores an upstream key as the name of its variable, never its value", async () => {
    const up = await ok("post", "/api/v1/upstreams", {
      name: "openai",
      base_url: "https://api.openai.com/v1",
      api_key_env: SECRET_ENV,
    });
    expect(up.api_key_env).toBe(SECRET_ENV);
    const { base } = await seedAgent(t, { agent: "keyed" });
    await ok("post", `${base}/versions`, {
      kind: "base_optimized",
      upstream: "openai",
      model: "gpt-4o-mini",
    });
    await ok("patch", "/api/v1/upstreams/openai", { timeout_ms: 9000 });

    const answers = await Promise.all(
      [
        "/api/v1/upstreams",
        "/api/v1/upstreams/openai",
        `${base}/versions`,
        base,
        "/api/v1/audit?limit=1000",
        "/openapi.json",
      ].map((path) => api("get", path)),
    );
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(SECRET);
    }
    // Nor anywhere in the database.
    const { db } = t.gw.dbHandle;
    for (const table of [
      "upstreams",
      "versions",
      "audit_log",
      "agents",
      "systems",
      "api_tokens",
      "aliases",
      "pins",
    ]) {
      expect(JSON.stringify(await db(table).select("*")), table).not.toContain(SECRET);
    }
    const [stored] = await db("upstreams").where({ name: "openai" }).select("api_key_env");
    expect(stored.api_key_env).toBe(SECRET_ENV);
  });
});
