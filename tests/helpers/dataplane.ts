/**
 * Data-plane fixtures: a fake OpenAI-compatible upstream, an agentgate instance, an admin API
 * helper and an `openai` SDK client pointed at the gateway, as agent developers use it.
 */
import OpenAI from "openai";
import { type FakeOptions, type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";
import type { Backend } from "./databases.js";
import { ADMIN_TOKEN, type InstanceOptions, startTestInstance, type TestInstance } from "./instance.js";

export type Gateway = TestInstance & {
  fake: FakeUpstream;
  /** Admin API call that throws on an unexpected status. */
  admin<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    expect?: number,
  ): Promise<T>;
  /** OpenAI SDK client on the gateway, authenticated with `key` (the admin token by default). */
  client(key?: string): OpenAI;
  close(): Promise<void>;
};

export const MODELS = ["base-model", "ft-model", "ft-global", "other-model"];

export async function startGateway(
  backend: Backend,
  env: Record<string, string> = {},
  opts: InstanceOptions & { fake?: FakeOptions } = {},
): Promise<Gateway> {
  const fake = await startFakeUpstream({ models: MODELS, ...opts.fake });
  const t = await startTestInstance(backend, env, opts);
  const admin = async <T>(method: string, path: string, body?: unknown, expect?: number): Promise<T> => {
    const res = await fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { authorization: t.auth, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const ok = expect === undefined ? res.status < 300 : res.status === expect;
    if (!ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  await admin("POST", "/upstreams", {
    name: "fake",
    base_url: fake.url,
    first_byte_timeout_ms: 2000,
    timeout_ms: 5000,
  });
  return {
    ...t,
    fake,
    admin,
    client: (key = ADMIN_TOKEN) =>
      new OpenAI({ baseURL: `${t.url}/v1`, apiKey: key, maxRetries: 0, timeout: 10_000 }),
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/** A system with agents, each with versions on `models` (version n serves models[n-1]). */
export async function seedSystem(
  g: Gateway,
  system: string,
  agents: string[],
  models: string[] = ["base-model", "ft-model"],
  topology = "hierarchical",
): Promise<void> {
  await g.admin("POST", "/systems", { name: system, topology });
  for (const agent of agents) {
    await g.admin("POST", `/systems/${system}/agents`, { name: agent });
    for (const [i, model] of models.entries()) {
      await g.admin("POST", `/systems/${system}/agents/${agent}/versions`, {
        kind: i === 0 ? "base_optimized" : "fine_tuned",
        upstream: "fake",
        model,
      });
    }
  }
  // Seeded means routable without waiting: the admin API answers a write only once this
  // replica's routing table has it.
}

/**
 * Waits until the gateway's routing table has been rebuilt after the last change. Needed only for
 * changes made outside the admin API (the fine-tune follower, the guardian, a service called
 * directly): an admin write answers once its replica's table has it.
 */
export async function routingSettled(g: Gateway): Promise<void> {
  await g.gw.routing.reload();
}

/** Waits until every queued event is in the database. */
export async function eventsFlushed(g: Gateway): Promise<void> {
  await g.gw.recorder.flush();
}
