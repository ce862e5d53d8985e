/**
 * `agentgate finetune launch|status|list|events|cancel` through the real CLI against a real server
 * and the fake trainer: a launch with hyperparameters and registration options, `status --wait`
 * following the job to its versions, the list and the trainer's events, a cancel, a failed job
 * that makes `status --wait` exit non-zero, and one-line errors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk, expectOneLineError, json, killAll, runCli } from "../cli/cli.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import {
  BASE_MODEL,
  type Dataset,
  dataset,
  type FineTune,
  type FineTuneEnv,
  startFineTuneEnv,
} from "./setup.js";

describe("agentgate finetune", () => {
  let env: FineTuneEnv;
  let ds: Dataset;
  let cliEnv: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, cliEnv);

  beforeAll(async () => {
    env = await startFineTuneEnv("pglite", ["solver"]);
    ds = await dataset(env.g, "solver-ds", ["solver"]);
    cliEnv = { AGENTGATE_URL: env.g.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
  }, 120_000);
  afterAll(async () => {
    await killAll();
    await env?.close();
  });

  it("launch, status --wait until the version is registered, list, events", async () => {
    const launched = await cli(
      "finetune",
      "launch",
      "--dataset",
      String(ds.id),
      "--trainer",
      "trainer",
      "--base-model",
      BASE_MODEL,
      "--suffix",
      "solver",
      "--epochs",
      "2",
      "--batch-size",
      "auto",
      "--serve-upstream",
      "fake",
      "--system-prompt",
      "Solve.",
      "--params",
      '{"temperature": 0.2}',
      "--tag",
      "run=cli",
    );
    expectOk(launched);
    expect(launched.stdout).toMatch(/^Fine-tune 1 launched on 'trainer' \(trainer job ftjob-\w+\)\.$/m);
    expect(launched.stdout).toMatch(/^status\s+validating_files$/m);
    const create = env.trainer.requests.find((r) => r.method === "POST" && r.path === "/v1/fine_tuning/jobs");
    expect(create?.body).toMatchObject({
      model: BASE_MODEL,
      suffix: "solver",
      hyperparameters: { n_epochs: 2, batch_size: "auto" },
    });

    const waited = await cli("finetune", "status", "1", "--wait", "--interval", "1");
    expectOk(waited);
    expect(waited.stdout).toMatch(/^status\s+succeeded$/m);
    expect(waited.stdout).toMatch(/^versions\s+shop\/solver v2$/m);
    expect(waited.stdout).toMatch(/^fine_tuned_model\s+ft:gpt-4o-mini-2024-07-18:fake-org:solver:\w{8}$/m);
    const v = await env.g.admin<{
      prompt: unknown;
      params: unknown;
      tags: Record<string, string>;
      upstream: string;
    }>("GET", "/systems/shop/agents/solver/versions/2");
    expect(v).toMatchObject({
      upstream: "fake",
      prompt: { system: "Solve." },
      params: { temperature: 0.2 },
      tags: { run: "cli" },
    });

    const list = await cli("--json", "finetune", "list");
    expectOk(list);
    expect(json<{ data: FineTune[] }>(list).data.map((j) => [j.id, j.status])).toEqual([[1, "succeeded"]]);
    const table = await cli("finetune", "list", "--status", "succeeded");
    expect(table.stdout).toMatch(
      /^1\s+succeeded\s+trainer\s+\d+\s+gpt-4o-mini-2024-07-18\s+shop\/solver\s+ft:\S+\s+shop\/solver@2\s/m,
    );

    const events = await cli("finetune", "events", "1", "--limit", "2");
    expectOk(events);
    expect(events.stdout).toMatch(/^\S+\s+info\s+The job has successfully completed\s+ftevent-/m);
    expect(events.stdout).toMatch(/^More: --after ftevent-\w+$/m);
  });

  it("cancel; a failed job makes status --wait exit 1; errors are one line", async () => {
    const launch = async () =>
      json<FineTune>(
        await cli(
          "--json",
          "finetune",
          "launch",
          "--dataset",
          String(ds.id),
          "--trainer",
          "trainer",
          "--base-model",
          BASE_MODEL,
        ),
      );
    const a = await launch();
    const cancelled = await cli("finetune", "cancel", String(a.id), "--reason", "not needed");
    expectOk(cancelled);
    expect(cancelled.stdout).toMatch(new RegExp(`^Fine-tune ${a.id}: cancelled\\.$`, "m"));
    expect(expectOneLineError(await cli("finetune", "cancel", String(a.id)), 1)).toBe(
      `agentgate: fine-tune ${a.id} is already cancelled (invalid_state)\n`,
    );

    env.trainer.failNextJob({ code: "quota_exceeded", message: "Training quota exceeded", param: null });
    const b = await launch();
    const waited = await cli("finetune", "status", String(b.id), "--wait", "--interval", "1");
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(/^error\s+Training quota exceeded \(quota_exceeded\)$/m);
    expect(waited.stderr).toBe(`agentgate: fine-tune ${b.id} failed: Training quota exceeded\n`);

    expect(expectOneLineError(await cli("finetune", "status", "99"), 1)).toBe(
      "agentgate: fine-tune 99 not found (fine_tune_not_found)\n",
    );
    expectOneLineError(
      await cli(
        "finetune",
        "launch",
        "--dataset",
        "1",
        "--trainer",
        "trainer",
        "--base-model",
        "m",
        "--epochs",
        "x",
      ),
      2,
    );
    expect(
      expectOneLineError(
        await cli(
          "finetune",
          "launch",
          "--dataset",
          String(ds.id),
          "--trainer",
          "ghost",
          "--base-model",
          "m",
        ),
        1,
      ),
    ).toBe("agentgate: trainer 'ghost' (an upstream) not found (upstream_not_found)\n");
  });
});
