/**
 * Concurrent mutations of one agent serialize: numbers are distinct and gap-free, the final state
 * is one a serial order would produce, and the audit log is a complete, serial history (each
 * entry's `before` is the previous entry's `after`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";

type AuditEntry = {
  id: number;
  actor: string;
  action: string;
  object_key: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  reason: string | null;
};

const agentPath = (agent: string) => `/api/v1/systems/support/agents/${agent}`;
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Asserts that the entries, in id order, form one unbroken chain of states. */
function expectSerialChain(entries: AuditEntry[], initial: unknown) {
  expect(entries.length).toBeGreaterThan(0);
  let state = initial;
  for (const e of entries) {
    expect(e.before, `audit entry ${e.id} (${e.action}) does not start where the last one ended`).toEqual(
      state,
    );
    state = e.after;
  }
  return state;
}

describe.each(backends())("concurrent mutations on %s", (backend) => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance(backend);
    await seedAgent(t, { versions: 1 });
  });
  afterAll(() => t?.close());

  const api = (method: "get" | "post" | "put" | "delete", path: string, body?: object) => {
    const req = t.http[method](path).set("authorization", t.auth);
    return body ? req.send(body) : req;
  };
  /** The agent's audit entries in id order (oldest first). */
  const auditOf = async (agent: string, action?: string): Promise<AuditEntry[]> => {
    const q = new URLSearchParams({ object: `support/${agent}`, limit: "1000" });
    if (action) q.set("action", action);
    const res = await api("get", `/api/v1/audit?${q}`);
    expect(res.status).toBe(200);
    return [...res.body.data].reverse();
  };
  const newAgent = async (agent: string, versions: number) => {
    await seedAgent(t, { agent, versions });
    return agentPath(agent);
  };

  it("20 parallel registrations get the distinct numbers 1..20", async () => {
    const base = await newAgent("parallel", 0);
    const results = await Promise.all(
      range(20).map((i) =>
        api("post", `${base}/versions`, { kind: "fine_tuned", upstream: "fake", model: `m-${i}` }),
      ),
    );
    for (const r of results) expect(r.status, r.text).toBe(201);
    expect(results.map((r) => r.body.version).sort((a, b) => a - b)).toEqual(range(20));
    // Each answer describes the version it created.
    for (const r of results) {
      const stored = await api("get", `${base}/versions/${r.body.version}`);
      expect(stored.body.model).toBe(r.body.model);
    }

    const agent = await api("get", base);
    expect(agent.body).toMatchObject({ versions: 20, latest_version: 20, champion: 1 });
    const list = await api("get", `${base}/versions`);
    expect(list.body.data.map((v: { version: number }) => v.version)).toEqual(range(20));

    const registered = await auditOf("parallel", "version.register");
    expect(registered).toHaveLength(20);
    expect(registered.map((e) => e.after?.version)).toEqual(range(20));
    // Exactly one champion assignment: the first version's.
    const champions = await auditOf("parallel", "alias.set");
    expect(champions).toHaveLength(1);
    expect(champions[0]?.after).toEqual({ alias: "champion", version: 1 });
  });

  it("10 parallel pins leave one of them in place and a serial pin history", async () => {
    const base = await newAgent("pins", 10);
    const results = await Promise.all(
      range(10).map((v) => api("put", `${base}/pin`, { version: v, reason: `pin ${v}` })),
    );
    for (const r of results) expect(r.status, r.text).toBe(200);

    const agent = await api("get", base);
    const final = agent.body.pin.version;
    expect(range(10)).toContain(final);
    const pins = await auditOf("pins", "pin.set");
    expect(pins).toHaveLength(10);
    expect(pins.map((e) => e.after?.pinned).sort((a, b) => Number(a) - Number(b))).toEqual(range(10));
    expect(expectSerialChain(pins, { pinned: null })).toEqual({ pinned: final });
    // The reason stored with the pin is the one of the request that won.
    expect(agent.body.pin.reason).toBe(`pin ${final}`);
    expect(pins.at(-1)?.reason).toBe(`pin ${final}`);
  });

  it("10 parallel alias moves leave a serial alias history", async () => {
    const base = await newAgent("aliases", 10);
    const results = await Promise.all(
      range(10).map((v) => api("put", `${base}/aliases/canary`, { version: v })),
    );
    for (const r of results) expect(r.status, r.text).toBe(200);

    const alias = await api("get", `${base}/aliases/canary`);
    expect(alias.status).toBe(200);
    const final = alias.body.version;
    expect(alias.body.history).toHaveLength(10);
    expect(alias.body.history[0].to_version).toBe(final);
    // History, newest first: each move starts where the next older one ended.
    const history = [...alias.body.history].reverse();
    expect(history[0].from_version).toBeNull();
    for (let i = 1; i < history.length; i++) expect(history[i].from_version).toBe(history[i - 1].to_version);

    const moves = (await auditOf("aliases", "alias.set")).filter((e) => e.after?.alias === "canary");
    expect(moves).toHaveLength(10);
    expect(expectSerialChain(moves, { alias: "canary", version: null })).toEqual({
      alias: "canary",
      version: final,
    });
    // The champion was not touched.
    expect((await api("get", base)).body.champion).toBe(1);
  });

  it("parallel rollbacks walk back one version each, then refuse", async () => {
    const base = await newAgent("walk", 5);
    for (const v of [2, 3, 4, 5])
      expect((await api("put", `${base}/aliases/champion`, { version: v })).status).toBe(200);
    expect((await api("put", `${base}/pin`, { version: 5 })).status).toBe(200);

    const results = await Promise.all(
      range(6).map((i) => api("post", `${base}/rollback`, { reason: `r${i}` })),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok.map((r) => r.body.version).sort()).toEqual([1, 2, 3, 4]);
    expect(ok.map((r) => r.body.previous).sort()).toEqual([2, 3, 4, 5]);
    for (const r of ok) expect(r.body.pinned).toBe(true);
    expect(refused).toHaveLength(2);
    for (const r of refused) expectError(r, 409, "no_rollback_target");

    const agent = await api("get", base);
    expect(agent.body).toMatchObject({ champion: 1, pin: { version: 1 } });
    const audit = await auditOf("walk");
    const champion = audit.filter((e) => e.after?.alias === "champion");
    expect(champion.filter((e) => e.action === "rollback")).toHaveLength(4);
    expect(expectSerialChain(champion, { alias: "champion", version: null })).toEqual({
      alias: "champion",
      version: 1,
    });
    const pin = audit.filter((e) => e.action.startsWith("pin.") || e.action === "rollback.pin");
    expect(pin.filter((e) => e.action === "rollback.pin")).toHaveLength(4);
    expect(expectSerialChain(pin, { pinned: null })).toEqual({ pinned: 1 });
  });

  it("a mix of parallel pins, unpins, alias moves and rollbacks stays consistent", async () => {
    const base = await newAgent("mixed", 6);
    const requests = [
      ...range(6).map((v) => api("put", `${base}/pin`, { version: v })),
      ...range(4).map(() => api("delete", `${base}/pin`)),
      ...range(6).map((v) => api("put", `${base}/aliases/champion`, { version: v })),
      ...range(6).map((v) => api("post", `${base}/rollback`, { version: v })),
    ];
    const results = await Promise.all(requests);
    for (const r of results) {
      if (r.status === 404) expectError(r, 404, "pin_not_found");
      else expect([200, 204], r.text).toContain(r.status);
    }
    const unpinned = results.slice(6, 10).filter((r) => r.status === 204).length;
    const pinnedRollbacks = results.slice(16).filter((r) => r.body.pinned === true).length;

    const agent = await api("get", base);
    const audit = await auditOf("mixed");
    const pin = audit.filter((e) => e.action.startsWith("pin.") || e.action === "rollback.pin");
    expect(pin.filter((e) => e.action === "pin.set")).toHaveLength(6);
    expect(pin.filter((e) => e.action === "pin.delete")).toHaveLength(unpinned);
    expect(pin.filter((e) => e.action === "rollback.pin")).toHaveLength(pinnedRollbacks);
    const finalPin = expectSerialChain(pin, { pinned: null }) as { pinned: number | null };
    expect(agent.body.pin?.version ?? null).toBe(finalPin.pinned);

    const champion = audit.filter((e) => e.after?.alias === "champion");
    const finalChampion = expectSerialChain(champion, { alias: "champion", version: null });
    expect(finalChampion).toEqual({ alias: "champion", version: agent.body.champion });
    const history = (await api("get", `${base}/aliases/champion`)).body.history;
    expect(history).toHaveLength(champion.length);
    expect(history[0].to_version).toBe(agent.body.champion);
  });

  it("parallel creations of one name: exactly one 201, the rest 409", async () => {
    const cases: Array<[string, object, string]> = [
      ["/api/v1/systems/support/agents", { name: "twin" }, "agent.create"],
      ["/api/v1/systems", { name: "twin-system", topology: "custom" }, "system.create"],
      ["/api/v1/upstreams", { name: "twin-upstream", base_url: "http://127.0.0.1:9/v1" }, "upstream.create"],
      ["/api/v1/tokens", { name: "twin-token", scopes: ["read"] }, "token.create"],
    ];
    for (const [path, body, action] of cases) {
      const results = await Promise.all(range(10).map(() => api("post", path, body)));
      expect(
        results.filter((r) => r.status === 201),
        path,
      ).toHaveLength(1);
      const conflicts = results.filter((r) => r.status !== 201);
      expect(conflicts).toHaveLength(9);
      for (const r of conflicts) expectError(r, 409, "already_exists", { param: "name" });
      const audit = await api("get", `/api/v1/audit?action=${action}&limit=1000`);
      const name = (body as { name: string }).name;
      expect(audit.body.data.filter((e: AuditEntry) => e.object_key.endsWith(name))).toHaveLength(1);
    }
  });

  it("deleting an upstream while a version is registered on it: one wins cleanly", async () => {
    const base = agentPath("coordinator");
    for (let round = 0; round < 8; round++) {
      const name = `racy-${round}`;
      const created = await api("post", "/api/v1/upstreams", { name, base_url: "http://127.0.0.1:9/v1" });
      expect(created.status).toBe(201);
      const [del, reg] = await Promise.all([
        api("delete", `/api/v1/upstreams/${name}`),
        api("post", `${base}/versions`, { kind: "fine_tuned", upstream: name, model: "m" }),
      ]);
      if (del.status === 204) {
        expectError(reg, 404, "upstream_not_found");
      } else {
        expectError(del, 409, "in_use");
        expect(reg.status, reg.text).toBe(201);
        expect(reg.body.upstream).toBe(name);
      }
    }
    // Every registered version still points at an existing upstream.
    const versions = await api("get", `${base}/versions`);
    const upstreams = new Set(
      (await api("get", "/api/v1/upstreams")).body.data.map((u: { name: string }) => u.name),
    );
    for (const v of versions.body.data) expect(upstreams.has(v.upstream)).toBe(true);
  });
});
