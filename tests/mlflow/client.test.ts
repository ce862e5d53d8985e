/**
 * The MLflow REST client against a real MLflow server: registered models, versions, tags and
 * aliases round-trip; searches page through more than one page; MLflow's errors arrive as typed
 * errors with MLflow's codes (including its quirks). Transport behaviour MLflow cannot be made to
 * show (timeouts, auth headers, non-JSON errors, retries) is checked against a local HTTP server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MlflowClient, tagRecord } from "../../src/mlflow/client.js";
import { MlflowApiError, MlflowClientError, MlflowUnavailableError } from "../../src/mlflow/errors.js";
import { allOf, literal, tagIdentifier } from "../../src/mlflow/filter.js";
import { freePort } from "../cli/cli.js";
import { type MlflowServer, startMlflowServer } from "./mlflow-server.js";

let server: MlflowServer;
let client: MlflowClient;

beforeAll(async () => {
  server = await startMlflowServer();
  client = new MlflowClient({ trackingUri: server.url, timeoutMs: 20_000 });
});
afterAll(async () => {
  await server?.stop();
});

async function apiError(p: Promise<unknown>): Promise<MlflowApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MlflowApiError);
  return err as MlflowApiError;
}

describe("registered models", () => {
  it("create, get, update, set and delete tags, delete", async () => {
    const created = await client.createRegisteredModel({
      name: "crud.model",
      tags: [{ key: "agentgate.system", value: "crud" }],
      description: "first",
    });
    expect(created).toMatchObject({ name: "crud.model", description: "first", aliases: [] });
    expect(tagRecord(created.tags)).toEqual({ "agentgate.system": "crud" });

    await client.setRegisteredModelTag("crud.model", "team", "ml");
    await client.setRegisteredModelTag("crud.model", "team", "ml-platform"); // overwrites
    const updated = await client.updateRegisteredModel("crud.model", "second");
    expect(updated.description).toBe("second");
    let got = await client.getRegisteredModel("crud.model");
    expect(tagRecord(got.tags)).toEqual({ "agentgate.system": "crud", team: "ml-platform" });

    await client.deleteRegisteredModelTag("crud.model", "team");
    got = await client.getRegisteredModel("crud.model");
    expect(tagRecord(got.tags)).toEqual({ "agentgate.system": "crud" });

    await client.deleteRegisteredModel("crud.model");
    const gone = await apiError(client.getRegisteredModel("crud.model"));
    expect(gone).toMatchObject({ status: 404, errorCode: "RESOURCE_DOES_NOT_EXIST", notFound: true });
  });

  it("a duplicate name is RESOURCE_ALREADY_EXISTS with HTTP 400, not 409", async () => {
    await client.createRegisteredModel({ name: "dup.model" });
    const err = await apiError(client.createRegisteredModel({ name: "dup.model" }));
    expect(err).toMatchObject({ status: 400, errorCode: "RESOURCE_ALREADY_EXISTS", alreadyExists: true });
    expect(err.message).toMatch(/already exists/);
  });

  it("names with '/' or ':' are INVALID_PARAMETER_VALUE", async () => {
    const err = await apiError(client.createRegisteredModel({ name: "support/coordinator" }));
    expect(err).toMatchObject({ status: 400, errorCode: "INVALID_PARAMETER_VALUE" });
  });

  it("search pages through more than one page with page_token", async () => {
    for (let i = 0; i < 7; i++)
      await client.createRegisteredModel({ name: `paged.m${i}`, tags: [{ key: "set", value: "paged" }] });
    const filter = "name LIKE 'paged.%'";
    const first = await client.searchRegisteredModels({ filter, maxResults: 3, orderBy: ["name ASC"] });
    expect(first.items.map((m) => m.name)).toEqual(["paged.m0", "paged.m1", "paged.m2"]);
    expect(first.nextPageToken).toBeTruthy();
    const second = await client.searchRegisteredModels({
      filter,
      maxResults: 3,
      orderBy: ["name ASC"],
      pageToken: first.nextPageToken,
    });
    expect(second.items.map((m) => m.name)).toEqual(["paged.m3", "paged.m4", "paged.m5"]);

    const all = await client.searchAllRegisteredModels({ filter, orderBy: ["name DESC"] }, 2);
    expect(all.map((m) => m.name)).toEqual([
      "paged.m6",
      "paged.m5",
      "paged.m4",
      "paged.m3",
      "paged.m2",
      "paged.m1",
      "paged.m0",
    ]);
    // Tag filters on registered models, with a dotted key in backticks.
    const byTag = await client.searchAllRegisteredModels(
      { filter: allOf([[tagIdentifier("set"), "paged"]]) },
      4,
    );
    expect(byTag).toHaveLength(7);
  });

  it("max_results above MLflow's cap is refused before sending", async () => {
    await expect(client.searchRegisteredModels({ maxResults: 1001 })).rejects.toBeInstanceOf(
      MlflowClientError,
    );
    await expect(client.searchModelVersions({ maxResults: 0 })).rejects.toBeInstanceOf(MlflowClientError);
  });
});

describe("model versions and aliases", () => {
  beforeAll(async () => {
    await client.createRegisteredModel({ name: "mv.agent" });
  });

  it("create needs a source; versions are numbered strings; tags with dots round-trip", async () => {
    const missing = await apiError(
      // @ts-expect-error: source is required, and MLflow says so too
      client.createModelVersion({ name: "mv.agent" }),
    );
    expect(missing.errorCode).toBe("INVALID_PARAMETER_VALUE");
    expect(missing.message).toMatch(/source/);

    const v1 = await client.createModelVersion({
      name: "mv.agent",
      source: "agentgate://openai/ft:gpt-4o-mini:org::abc",
      tags: [{ key: "agentgate.version", value: "1" }],
      description: "fine-tuned",
    });
    expect(v1).toMatchObject({
      name: "mv.agent",
      version: "1",
      status: "READY",
      aliases: [],
      run_id: undefined,
    });
    const v2 = await client.createModelVersion({
      name: "mv.agent",
      source: "agentgate://vllm/meta-llama/Llama-3.1-8B",
      runId: "run-123",
    });
    expect(v2.version).toBe("2");
    expect(v2.run_id).toBe("run-123");

    await client.setModelVersionTag("mv.agent", 2, "agentgate.version", "2");
    await client.setModelVersionTag("mv.agent", "2", "scratch key", "x");
    await client.deleteModelVersionTag("mv.agent", "2", "scratch key");
    const updated = await client.updateModelVersion("mv.agent", 2, "base");
    expect(updated.description).toBe("base");
    const got = await client.getModelVersion("mv.agent", 2);
    expect(tagRecord(got.tags)).toEqual({ "agentgate.version": "2" });
    expect(got.source).toBe("agentgate://vllm/meta-llama/Llama-3.1-8B");

    const relative = await apiError(
      client.createModelVersion({ name: "mv.agent", source: "agentgate://vllm/a/../b" }),
    );
    expect(relative.errorCode).toBe("INVALID_PARAMETER_VALUE");
    await expect(client.getModelVersion("mv.agent", "two")).rejects.toBeInstanceOf(MlflowClientError);
    const absent = await apiError(client.getModelVersion("mv.agent", 99));
    expect(absent).toMatchObject({ status: 404, errorCode: "RESOURCE_DOES_NOT_EXIST" });
  });

  it("searches versions by tag (dotted key) and pages through them", async () => {
    for (let i = 0; i < 5; i++)
      await client
        .createModelVersion({ name: "mv.paged", source: `agentgate://up/m${i}` })
        .catch(async (e) => {
          if (!(e instanceof MlflowApiError && e.notFound)) throw e;
          await client.createRegisteredModel({ name: "mv.paged" });
          await client.createModelVersion({ name: "mv.paged", source: `agentgate://up/m${i}` });
        });
    const all = await client.searchAllModelVersions(
      { filter: allOf([["name", "mv.paged"]]), orderBy: ["version_number ASC"] },
      2,
    );
    expect(all.map((v) => v.version)).toEqual(["1", "2", "3", "4", "5"]);
    const page = await client.searchModelVersions({ filter: allOf([["name", "mv.paged"]]), maxResults: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.nextPageToken).toBeTruthy();

    const tagged = await client.searchAllModelVersions({
      filter: allOf([
        ["name", "mv.agent"],
        [tagIdentifier("agentgate.version"), "2"],
      ]),
    });
    expect(tagged.map((v) => v.version)).toEqual(["2"]);
  });

  it("aliases: set (upsert), read by alias, delete; an unset alias reads as null", async () => {
    await client.setAlias("mv.agent", "champion", "1");
    expect((await client.getByAlias("mv.agent", "champion"))?.version).toBe("1");
    await client.setAlias("mv.agent", "champion", 2); // moves it
    const champion = await client.getByAlias("mv.agent", "champion");
    expect(champion).toMatchObject({ version: "2", aliases: ["champion"] });
    expect((await client.getRegisteredModel("mv.agent")).aliases).toEqual([
      { alias: "champion", version: "2" },
    ]);
    // The quirk: search leaves aliases out on SQL stores; get has them.
    const searched = await client.searchAllModelVersions({ filter: allOf([["name", "mv.agent"]]) });
    expect(searched.find((v) => v.version === "2")?.aliases).toEqual([]);
    expect((await client.getModelVersion("mv.agent", 2)).aliases).toEqual(["champion"]);

    expect(await client.getByAlias("mv.agent", "challenger")).toBeNull();
    await client.deleteAlias("mv.agent", "champion");
    expect(await client.getByAlias("mv.agent", "champion")).toBeNull();
    await client.deleteAlias("mv.agent", "champion"); // deleting an unset alias is fine

    const reserved = await apiError(client.setAlias("mv.agent", "v3", 1));
    expect(reserved.errorCode).toBe("INVALID_PARAMETER_VALUE");
    const noVersion = await apiError(client.setAlias("mv.agent", "champion", 42));
    expect(noVersion.errorCode).toBe("RESOURCE_DOES_NOT_EXIST");
    const noModel = await apiError(client.getByAlias("no.such", "champion"));
    expect(noModel.errorCode).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("deleting a version removes it and the aliases on it", async () => {
    await client.createRegisteredModel({ name: "mv.delete" });
    const v = await client.createModelVersion({ name: "mv.delete", source: "agentgate://up/x" });
    await client.setAlias("mv.delete", "champion", v.version);
    await client.deleteModelVersion("mv.delete", v.version);
    expect((await client.getRegisteredModel("mv.delete")).aliases).toEqual([]);
    expect((await apiError(client.getModelVersion("mv.delete", v.version))).notFound).toBe(true);
  });
});

describe("filters", () => {
  it("quote with the quote the value does not contain; refuse both", () => {
    expect(literal("a.b")).toBe("'a.b'");
    expect(literal("o'brien")).toBe(`"o'brien"`);
    expect(() => literal(`it's "x"`)).toThrow(MlflowClientError);
    expect(tagIdentifier("agentgate.version")).toBe("tags.`agentgate.version`");
    expect(() => tagIdentifier("a`b")).toThrow(MlflowClientError);
  });

  it("a value with a single quote finds the version through the real server", async () => {
    await client.createRegisteredModel({ name: "quote.model" });
    await client.createModelVersion({
      name: "quote.model",
      source: "agentgate://up/q",
      tags: [{ key: "note", value: "o'brien" }],
    });
    const found = await client.searchAllModelVersions({
      filter: allOf([
        ["name", "quote.model"],
        [tagIdentifier("note"), "o'brien"],
      ]),
    });
    expect(found).toHaveLength(1);
  });
});

describe("transport", () => {
  type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };
  async function fakeServer(answer: (s: Seen, res: http.ServerResponse) => void) {
    const seen: Seen[] = [];
    const srv = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      req.on("end", () => {
        const s = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
        seen.push(s);
        answer(s, res);
      });
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    return {
      url,
      seen,
      close: () =>
        new Promise<void>((resolve) => {
          srv.closeAllConnections();
          srv.close(() => resolve());
        }),
    };
  }

  it("MLflow unreachable: MlflowUnavailableError naming the server, without credentials", async () => {
    const port = await freePort();
    const c = new MlflowClient({
      trackingUri: `http://127.0.0.1:${port}/prefix/`,
      token: "secret-token",
      retryDelayMs: 10,
    });
    const err = await c.getRegisteredModel("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowUnavailableError);
    expect((err as MlflowUnavailableError).reason).toBe("unreachable");
    expect((err as Error).message).toBe(
      `MLflow at http://127.0.0.1:${port}/prefix is not reachable (connection refused)`,
    );
  });

  it("a server that does not answer: timeout", async () => {
    const f = await fakeServer(() => {});
    try {
      const c = new MlflowClient({ trackingUri: f.url, timeoutMs: 300, retries: 0 });
      const err = await c.getRegisteredModel("x").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MlflowUnavailableError);
      expect((err as MlflowUnavailableError).reason).toBe("timeout");
    } finally {
      await f.close();
    }
  });

  it("sends bearer or basic auth, GET parameters in the query (lists repeated), DELETE parameters in a JSON body", async () => {
    const f = await fakeServer((_s, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ registered_models: [{ name: "a" }], next_page_token: "" }));
    });
    try {
      const bearer = new MlflowClient({ trackingUri: f.url, token: "tok" });
      const page = await bearer.searchRegisteredModels({
        filter: "name = 'a'",
        orderBy: ["name ASC", "last_updated_timestamp DESC"],
        maxResults: 5,
      });
      expect(page).toEqual({
        items: [
          {
            name: "a",
            tags: [],
            aliases: [],
            creation_timestamp: undefined,
            last_updated_timestamp: undefined,
            description: undefined,
          },
        ],
        nextPageToken: undefined,
      });
      const basic = new MlflowClient({ trackingUri: `${f.url}/mlflow`, username: "u", password: "p:w" });
      await basic.deleteAlias("m", "champion");
      const [get, del] = f.seen;
      expect(get?.headers.authorization).toBe("Bearer tok");
      const q = new URL(get?.url ?? "", f.url);
      expect(q.pathname).toBe("/api/2.0/mlflow/registered-models/search");
      expect(q.searchParams.getAll("order_by")).toEqual(["name ASC", "last_updated_timestamp DESC"]);
      expect(q.searchParams.get("max_results")).toBe("5");
      expect(del?.method).toBe("DELETE");
      expect(del?.url).toBe("/mlflow/api/2.0/mlflow/registered-models/alias");
      expect(del?.headers.authorization).toBe(`Basic ${Buffer.from("u:p:w").toString("base64")}`);
      expect(del?.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(del?.body ?? "")).toEqual({ name: "m", alias: "champion" });
    } finally {
      await f.close();
    }
  });

  it("a non-JSON error answer gets MLflow's code for its status; idempotent calls are retried, creations are not", async () => {
    const f = await fakeServer((_s, res) => {
      res.statusCode = 503;
      res.end("<html>maintenance</html>");
    });
    try {
      const c = new MlflowClient({ trackingUri: f.url, retries: 2, retryDelayMs: 5 });
      const got = await apiError(c.getRegisteredModel("x"));
      expect(got).toMatchObject({ status: 503, errorCode: "TEMPORARILY_UNAVAILABLE" });
      expect(f.seen).toHaveLength(3);
      await apiError(c.createRegisteredModel({ name: "x" }));
      expect(f.seen).toHaveLength(4);
    } finally {
      await f.close();
    }
  });

  it("refuses a non-http tracking URI", () => {
    expect(() => new MlflowClient({ trackingUri: "file:///tmp/mlruns" })).toThrow(MlflowClientError);
  });
});
