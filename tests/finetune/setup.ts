/**
 * Fixtures of the fine-tune suites: a gateway with the fake chat upstream, a fake trainer
 * registered as the upstream `trainer` (its key in an environment variable), a system whose
 * agents serve `gpt-4o-mini-2024-07-18`, captured traffic, and datasets built from it.
 */

import { type FakeTrainer, startFakeTrainer } from "../fakes/fake-trainer.js";
import type { Backend } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";
import type { InstanceOptions } from "../helpers/instance.js";

export const BASE_MODEL = "gpt-4o-mini-2024-07-18";
export const TRAINER_KEY_ENV = "AGENTGATE_TEST_TRAINER_KEY";
export const TRAINER_KEY = "sk-trainer-secret-0123456789";

export type Dataset = { id: number; content_sha256: string; files: { agent: string; sha256: string }[] };
export type FineTune = {
  id: number;
  origin: string;
  status: string;
  trainer: string;
  trainer_job_id: string;
  trainer_file_id: string;
  dataset: { id: number; sha256: string; file: string };
  base_model: string;
  agents: string[];
  fine_tuned_model: string | null;
  trained_tokens: number | null;
  training_cost_usd: number | null;
  cost_note: string | null;
  error: { code: string | null; message: string; param: string | null } | null;
  poll_error: string | null;
  versions: { agent: string; version: number }[];
  created_by: string;
};

export type FineTuneEnv = {
  g: Gateway;
  trainer: FakeTrainer;
  close(): Promise<void>;
};

export async function startFineTuneEnv(
  backend: Backend,
  agents: string[],
  env: Record<string, string> = {},
  opts: InstanceOptions = {},
): Promise<FineTuneEnv> {
  // The key reaches agentgate only through the environment variable the upstream names.
  process.env[TRAINER_KEY_ENV] = TRAINER_KEY;
  const trainer = await startFakeTrainer({ apiKey: TRAINER_KEY });
  const g = await startGateway(
    backend,
    {
      AGENTGATE_FINETUNE_POLL_MS: "0",
      AGENTGATE_CAPTURE_CLEANUP_MS: "0",
      AGENTGATE_GUARDRAIL_INTERVAL_MS: "0",
      ...env,
    },
    opts,
  );
  await g.admin("POST", "/upstreams", {
    name: "trainer",
    base_url: trainer.url,
    api_key_env: TRAINER_KEY_ENV,
  });
  await seedSystem(g, "shop", agents, [BASE_MODEL]);
  for (const a of agents) await g.admin("PUT", `/systems/shop/agents/${a}/capture`, { enabled: true });
  await routingSettled(g);
  for (const a of agents) {
    for (let i = 0; i < 12; i++) {
      await g
        .client()
        .chat.completions.create(
          { model: "x", messages: [{ role: "user", content: `${a} task number ${i}` }] },
          { headers: { "X-Agent": `shop/${a}` } },
        );
    }
  }
  await eventsFlushed(g);
  return {
    g,
    trainer,
    async close() {
      await g.close();
      await trainer.close();
    },
  };
}

export async function dataset(
  g: Gateway,
  name: string,
  agents: string[],
  mode = "per_agent",
): Promise<Dataset> {
  return g.admin<Dataset>("POST", "/datasets", {
    name,
    agents: agents.map((a) => `shop/${a}`),
    mode,
    prompt: "client",
  });
}

export async function download(g: Gateway, id: number, agent?: string): Promise<string> {
  const res = await fetch(`${g.url}/api/v1/datasets/${id}/download${agent ? `?agent=${agent}` : ""}`, {
    headers: { authorization: g.auth },
  });
  return res.text();
}

/** The raw answer of an admin call (status and parsed body), for error cases. */
export async function call(g: Gateway, method: string, path: string, body?: unknown) {
  const res = await fetch(`${g.url}/api/v1${path}`, {
    method,
    headers: { authorization: g.auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: JSON.parse(text) as { error: { code: string; message: string; type: string } },
  };
}
