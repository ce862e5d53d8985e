/**
 * Starts real agentgate instances for tests: the full composition root on a random port, on a
 * fresh database of the chosen backend, with a known admin token.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import request from "supertest";
import { type Config, loadConfig } from "../../src/config.js";
import { type Agentgate, startAgentgate } from "../../src/main.js";
import { type Backend, createPgDatabase, type TestDatabase } from "./databases.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export type TestInstance = {
  gw: Agentgate;
  url: string;
  backend: Backend;
  databaseUrl: string | undefined;
  dataDir: string;
  /** supertest agent on the instance */
  http: ReturnType<typeof request>;
  /** Authorization header value for the bootstrap admin token. */
  auth: string;
  close(): Promise<void>;
};

export type InstanceOptions = {
  /** PostgreSQL only: use (and drop on close) this database instead of creating one. */
  database?: TestDatabase;
};

export async function startTestInstance(
  backend: Backend,
  env: Record<string, string> = {},
  opts: InstanceOptions = {},
): Promise<TestInstance> {
  const pgDb = backend === "postgres" ? (opts.database ?? (await createPgDatabase())) : undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-test-"));
  const config: Config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    AGENTGATE_DATA_DIR: dataDir,
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...env,
  });
  const gw = await startAgentgate(config, {
    inMemory: backend === "pglite",
    logger: pino({ level: "silent" }),
  });
  return {
    gw,
    url: gw.url,
    backend,
    databaseUrl: pgDb?.url,
    dataDir,
    http: request(gw.url),
    auth: `Bearer ${ADMIN_TOKEN}`,
    async close() {
      await gw.close();
      await pgDb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Registers an upstream, a system, an agent and `versions` versions; returns their names. */
export async function seedAgent(
  t: TestInstance,
  opts: { system?: string; agent?: string; versions?: number } = {},
) {
  const system = opts.system ?? "support";
  const agent = opts.agent ?? "coordinator";
  const ok = (status: number) => (res: request.Response) => {
    if (res.status !== status && res.status !== 409)
      throw new Error(`seed: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await t.http
    .post("/api/v1/upstreams")
    .set("authorization", t.auth)
    .send({ name: "fake", base_url: "http://127.0.0.1:9/v1" })
    .then(ok(201));
  await t.http
    .post("/api/v1/systems")
    .set("authorization", t.auth)
    .send({ name: system, topology: "hierarchical" })
    .then(ok(201));
  await t.http
    .post(`/api/v1/systems/${system}/agents`)
    .set("authorization", t.auth)
    .send({ name: agent })
    .then(ok(201));
  for (let i = 0; i < (opts.versions ?? 0); i++) {
    await t.http
      .post(`/api/v1/systems/${system}/agents/${agent}/versions`)
      .set("authorization", t.auth)
      .send({
        kind: i % 2 === 0 ? "base_optimized" : "fine_tuned",
        upstream: "fake",
        model: `model-${i + 1}`,
      })
      .then(ok(201));
  }
  return { system, agent, base: `/api/v1/systems/${system}/agents/${agent}` };
}
