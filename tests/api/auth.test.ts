/**
 * Every admin operation requires a token of the right scope. The walker reads the live OpenAPI
 * document, so an operation added later is covered without touching this file.
 */
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNoLeak } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { ADMIN_TOKEN, seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";

type Operation = {
  operationId?: unknown;
  responses?: Record<string, unknown>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Record<string, unknown> }> };
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>;
  security?: unknown;
  "x-required-scope"?: unknown;
};
type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

const METHODS = ["get", "post", "put", "patch", "delete"] as const;
const SCOPES = ["admin", "write", "read", "feedback", "proxy"] as const;
type Scope = (typeof SCOPES)[number];
/** What each scope grants, stated independently of the implementation. */
const GRANTS: Record<Scope, Scope[]> = {
  admin: ["admin", "write", "read", "feedback", "proxy"],
  write: ["write", "read"],
  read: ["read"],
  feedback: ["feedback"],
  proxy: ["proxy"],
};
/** The admin API has at least this many operations (registry, tokens, audit). */
const MIN_OPERATIONS = 25;

/** Stand-ins for path parameters; any other parameter (e.g. an `{id}`) gets `1`. */
const PARAMS: Record<string, string> = {
  system: "support",
  agent: "coordinator",
  alias: "champion",
  n: "1",
  name: "support",
};
const FALLBACK_PARAM = "1";

function operations(doc: Doc) {
  const ops: Array<{ method: (typeof METHODS)[number]; path: string; url: string; op: Operation }> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const url = path.replace(/\{(\w+)\}/g, (_, p: string) => PARAMS[p] ?? FALLBACK_PARAM);
      ops.push({ method, path, url, op });
    }
  }
  return ops;
}

describe.each(backends())("admin API auth on %s", (backend) => {
  let t: TestInstance;
  let doc: Doc;
  const tokens: Partial<Record<Scope, string>> = { admin: ADMIN_TOKEN };

  beforeAll(async () => {
    t = await startTestInstance(backend);
    await seedAgent(t, { versions: 1 });
    for (const scope of ["write", "read", "feedback", "proxy"] as const) {
      const res = await t.http
        .post("/api/v1/tokens")
        .set("authorization", t.auth)
        .send({ name: `walker-${scope}`, scopes: [scope] });
      expect(res.status).toBe(201);
      tokens[scope] = res.body.token;
    }
    const res = await t.http.get("/openapi.json");
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(() => t?.close());

  const send = (method: string, url: string, token?: string) => {
    let req = t.http[method as "get"](url);
    if (token !== undefined) req = req.set("authorization", token);
    return method === "get" || method === "delete" ? req : req.send({});
  };

  it("walks every operation: no token → 401 missing_token, unknown token → 401 invalid_token", async () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(MIN_OPERATIONS);
    let walked = 0;
    for (const { method, url, op } of ops) {
      expect(SCOPES, `${method} ${url} has no x-required-scope`).toContain(op["x-required-scope"]);
      expectError(await send(method, url), 401, "missing_token");
      const invalid = await send(method, url, "Bearer agk_this-token-was-never-issued-0000000000");
      expectError(invalid, 401, "invalid_token");
      expect(invalid.headers["www-authenticate"]).toBe("Bearer");
      expectError(await send(method, url, `Bearer ${ADMIN_TOKEN}x`), 401, "invalid_token");
      expectError(await send(method, url, "Basic YWRtaW46YWRtaW4="), 401, "missing_token");
      expectError(await send(method, url, "Bearer"), 401, "missing_token");
      walked++;
    }
    expect(walked).toBe(ops.length);
  });

  it("walks every operation: a token without the required scope → 403, with it → past auth", async () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(MIN_OPERATIONS);
    let refused = 0;
    let allowed = 0;
    for (const { method, url, op } of ops) {
      const needed = op["x-required-scope"] as Scope;
      for (const held of SCOPES) {
        const res = await send(method, url, `Bearer ${tokens[held]}`);
        if (GRANTS[held].includes(needed)) {
          expect([401, 403], `${held} token on ${method} ${url}: ${res.text}`).not.toContain(res.status);
          expect(res.status, `${held} token on ${method} ${url}: ${res.text}`).toBeLessThan(500);
          allowed++;
        } else {
          expectError(res, 403, "insufficient_scope", { message: new RegExp(`'${needed}'`) });
          refused++;
        }
      }
    }
    // Every operation refuses at least `feedback` and `proxy` tokens.
    expect(refused).toBeGreaterThanOrEqual(2 * ops.length);
    expect(allowed).toBeGreaterThan(0);
  });

  it("tokens need admin (a write token is refused), registry changes need write", async () => {
    const ops = operations(doc);
    const tokenOps = ops.filter((o) => o.path.startsWith("/api/v1/tokens"));
    expect(tokenOps.length).toBe(3);
    for (const { method, url, op } of tokenOps) {
      expect(op["x-required-scope"]).toBe("admin");
      expectError(await send(method, url, `Bearer ${tokens.write}`), 403, "insufficient_scope");
    }
    const writes = ops.filter((o) => o.method !== "get" && /^\/api\/v1\/(systems|upstreams)/.test(o.path));
    expect(writes.length).toBeGreaterThan(10);
    for (const { op } of writes) expect(["write", "admin"]).toContain(op["x-required-scope"]);
  });

  it("refuses an unauthenticated request before reading its body", async () => {
    const malformed = await t.http
      .post("/api/v1/systems")
      .set("content-type", "application/json")
      .send("{not json");
    expectError(malformed, 401, "missing_token");
    const big = await t.http
      .post("/api/v1/systems")
      .set("authorization", "Bearer nope")
      .send({ name: "big", topology: "custom", description: "x".repeat(2 * 1024 * 1024) });
    expectError(big, 401, "invalid_token");
    const readOnly = await t.http
      .post("/api/v1/systems")
      .set("authorization", `Bearer ${tokens.read}`)
      .set("content-type", "application/json")
      .send("{not json");
    expectError(readOnly, 403, "insufficient_scope");
  });

  it("a revoked token stops working at once", async () => {
    const created = await t.http
      .post("/api/v1/tokens")
      .set("authorization", t.auth)
      .send({ name: "short-lived", scopes: ["read"] });
    expect(created.status).toBe(201);
    const bearer = `Bearer ${created.body.token}`;
    expect((await t.http.get("/api/v1/systems").set("authorization", bearer)).status).toBe(200);
    const revoked = await t.http.delete("/api/v1/tokens/short-lived").set("authorization", t.auth);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    expectError(await t.http.get("/api/v1/systems").set("authorization", bearer), 401, "invalid_token");
    expectError(await t.http.get("/api/v1/audit").set("authorization", bearer), 401, "invalid_token");
    // Revoking again is harmless and still reports the revocation.
    const again = await t.http.delete("/api/v1/tokens/short-lived").set("authorization", t.auth);
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
  });

  it("serves /healthz, /readyz and /openapi.json without a token", async () => {
    const anon = request(t.url);
    const health = await anon.get("/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
    const ready = await anon.get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: "ready", checks: { database: true } });
    const openapi = await anon.get("/openapi.json");
    expect(openapi.status).toBe(200);
    expect(openapi.headers["content-type"]).toMatch(/^application\/json/);
    expectNoLeak(JSON.stringify(openapi.body).replace(/"description":"[^"]*"/g, ""));
  });

  it("serves a well-formed OpenAPI 3.1 document", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toEqual(expect.any(String));
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Error).toBeDefined();

    const ids = new Set<string>();
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(MIN_OPERATIONS);
    for (const { method, path, op } of ops) {
      const where = `${method} ${path}`;
      expect(path, where).toMatch(/^\/api\/v1\//);
      expect(op.operationId, where).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      expect(ids.has(op.operationId as string), `${where}: duplicate operationId`).toBe(false);
      ids.add(op.operationId as string);

      const codes = Object.keys(op.responses ?? {});
      expect(
        codes.some((c) => /^2\d\d$/.test(c)),
        `${where}: no success response`,
      ).toBe(true);
      for (const c of ["400", "401", "403"]) expect(codes, where).toContain(c);
      expect(op.security, where).toEqual([{ bearer: [] }]);

      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p) => p.in === "path");
      expect(declared.map((p) => p.name).sort(), where).toEqual([...templated].sort());
      for (const p of declared) {
        expect(p.required, `${where} {${p.name}}`).toBe(true);
        expect(p.schema, `${where} {${p.name}}`).toBeTypeOf("object");
        // The walker's stand-in values are valid, so its requests reach the auth check as real ones.
        const pattern = (p.schema as { pattern?: string }).pattern;
        if (pattern && PARAMS[p.name])
          expect(PARAMS[p.name], `${where} {${p.name}}`).toMatch(new RegExp(pattern));
      }

      // Every registry and token write takes a body; any operation that takes one declares its schema.
      const registryWrite =
        method !== "get" && method !== "delete" && /^\/api\/v1\/(systems|upstreams|tokens)/.test(path);
      if (registryWrite) expect(op.requestBody, `${where}: no request body`).toBeDefined();
      if (op.requestBody) {
        const schema = op.requestBody.content?.["application/json"]?.schema;
        expect(schema, `${where}: request body without a JSON schema`).toBeTypeOf("object");
        expect(schema?.type, where).toBe("object");
        expect(schema?.additionalProperties, `${where}: request schema is not strict`).toBe(false);
      }
    }
    // Every $ref points at something that exists.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const target = ref.slice(8, -1);
      expect(target).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[target.split("/").pop() as string], target).toBeDefined();
    }
  });
});
