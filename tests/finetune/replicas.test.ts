/**
 * Two replicas on one PostgreSQL follow the same jobs: the lease lets one replica poll a job per
 * pass, and a success applied at the same moment by both followers and by GETs on both replicas
 * registers the versions exactly once (row lock + registered_at).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { type Agentgate, startAgentgate } from "../../src/main.js";
import { backends } from "../helpers/databases.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { BASE_MODEL, dataset, type FineTune, type FineTuneEnv, startFineTuneEnv } from "./setup.js";

describe.runIf(backends().includes("postgres"))("fine-tune followers on two replicas (postgres)", () => {
  let env: FineTuneEnv;
  let b: Agentgate;
  let dataDir: string;
  let datasetId: number;

  beforeAll(async () => {
    env = await startFineTuneEnv("postgres", ["alpha", "beta"]);
    datasetId = (await dataset(env.g, "both", ["alpha", "beta"], "global")).id;
    dataDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-replica-"));
    b = await startAgentgate(
      loadConfig({
        PORT: "0",
        DATABASE_URL: env.g.databaseUrl as string,
        AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
        AGENTGATE_DATA_DIR: dataDir,
        AGENTGATE_FINETUNE_POLL_MS: "0",
        AGENTGATE_GUARDRAIL_INTERVAL_MS: "0",
        AGENTGATE_CAPTURE_CLEANUP_MS: "0",
      }),
      { logger: pino({ level: "silent" }) },
    );
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await env?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const launch = () =>
    env.g.admin<FineTune>("POST", "/fine-tunes", {
      dataset: datasetId,
      trainer: "trainer",
      base_model: BASE_MODEL,
    });
  const show = (url: string, id: number) =>
    fetch(`${url}/api/v1/fine-tunes/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then(
      async (r) => (await r.json()) as FineTune,
    );

  it("one replica polls a job per pass", async () => {
    env.trainer.setStepsPerRetrieve(1);
    const job = await launch();
    const retrieves = () =>
      env.trainer.requests.filter((r) => r.path === `/v1/fine_tuning/jobs/${job.trainer_job_id}`).length;
    for (let pass = 1; pass <= 3; pass++) {
      const polled = await Promise.all([env.g.gw.fineTuneFollower.sweep(), b.fineTuneFollower.sweep()]);
      expect(polled[0] + polled[1]).toBe(1);
      expect(retrieves()).toBe(pass);
    }
    expect(await show(b.url, job.id)).toMatchObject({
      status: "succeeded",
      versions: [{ agent: "shop/alpha" }, { agent: "shop/beta" }],
    });
  });

  it("a success seen at once by both followers and by GETs on both replicas registers once", async () => {
    env.trainer.setStepsPerRetrieve(0);
    const job = await launch();
    env.trainer.advance(job.trainer_job_id, 2); // running
    env.trainer.setStepsPerRetrieve(1); // the next retrieve finds it succeeded, and every later one
    const versionsBefore = await Promise.all(
      ["alpha", "beta"].map(
        async (a) =>
          (await env.g.admin<{ data: unknown[] }>("GET", `/systems/shop/agents/${a}/versions`)).data.length,
      ),
    );
    await Promise.all([
      env.g.gw.fineTuneFollower.sweep(),
      b.fineTuneFollower.sweep(),
      ...[1, 2, 3].flatMap(() => [show(env.g.url, job.id), show(b.url, job.id)]),
    ]);
    const done = await show(b.url, job.id);
    expect(done.status).toBe("succeeded");
    for (const [i, a] of ["alpha", "beta"].entries()) {
      const versions = (
        await env.g.admin<{ data: { version: number; lineage: { fine_tune_job?: string } }[] }>(
          "GET",
          `/systems/shop/agents/${a}/versions`,
        )
      ).data;
      expect(versions.length).toBe((versionsBefore[i] as number) + 1);
      expect(versions.filter((v) => v.lineage?.fine_tune_job === String(job.id))).toHaveLength(1);
      expect(done.versions[i]).toEqual({ agent: `shop/${a}`, version: versions.length });
    }
    const audit = await env.g.admin<{ data: { action: string }[] }>(
      "GET",
      `/audit?object_type=fine_tune&object=${job.id}`,
    );
    expect(audit.data.map((e) => e.action)).toEqual(["fine_tune.succeeded", "fine_tune.create"]);
  });
});
