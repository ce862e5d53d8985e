/**
 * What the interop suites share: an agentgate instance with the fake upstream (as in the data
 * plane suites), tokens of the scopes agents really use (`proxy` to call, `feedback` to report),
 * and the environment that tells a Python script where agentgate is.
 */
import type { FakeOptions } from "../fakes/fake-upstream.js";
import type { Backend } from "../helpers/databases.js";
import { eventsFlushed, type Gateway, routingSettled, startGateway } from "../helpers/dataplane.js";

export type InteropGateway = Gateway & {
  /** A token of scope `proxy`: what an agent puts in its OpenAI API key. */
  proxyKey: string;
  /** A token of scope `feedback`: what an agent's evaluator posts feedback with. */
  feedbackKey: string;
  /** Environment for a Python script: base URLs and keys. */
  pyEnv: Record<string, string>;
};

export async function startInteropGateway(backend: Backend, fake: FakeOptions = {}): Promise<InteropGateway> {
  const g = await startGateway(backend, {}, { fake });
  const token = async (name: string, scope: string) =>
    (await g.admin<{ token: string }>("POST", "/tokens", { name, scopes: [scope] })).token;
  const proxyKey = await token("interop-agents", "proxy");
  const feedbackKey = await token("interop-evaluator", "feedback");
  return {
    ...g,
    proxyKey,
    feedbackKey,
    pyEnv: {
      AGENTGATE_BASE_URL: `${g.url}/v1`,
      AGENTGATE_ADMIN_URL: `${g.url}/api/v1`,
      AGENTGATE_PROXY_KEY: proxyKey,
      AGENTGATE_FEEDBACK_KEY: feedbackKey,
    },
  };
}

/**
 * A system of four agents for the client suites: `writer` answers; `broken`'s upstream answers
 * 500; `slow`'s never answers within its upstream's 300 ms first-byte timeout; `truncated`'s
 * streams are cut after a few chunks.
 */
export async function seedClientAgents(g: Gateway, system: string): Promise<void> {
  await g.admin("POST", "/upstreams", {
    name: "impatient",
    base_url: g.fake.url,
    first_byte_timeout_ms: 300,
    timeout_ms: 1000,
  });
  await g.admin("POST", "/systems", { name: system, topology: "custom" });
  const agents = [
    ["writer", "fake", "base-model"],
    ["broken", "fake", "broken-model"],
    ["slow", "impatient", "slow-model"],
    ["truncated", "fake", "cut-model"],
  ];
  for (const [agent, upstream, model] of agents) {
    await g.admin("POST", `/systems/${system}/agents`, { name: agent });
    await g.admin("POST", `/systems/${system}/agents/${agent}/versions`, {
      kind: "base_optimized",
      upstream,
      model,
    });
  }
  g.fake.setFault("broken-model", { fault: "500" });
  g.fake.setFault("slow-model", { fault: "slow", delayMs: 3000 });
  g.fake.setFault("cut-model", { fault: "truncate" });
  await routingSettled(g);
}

export type StoredEvent = {
  request_id: string;
  agent: string;
  session_id: string | null;
  experiment_id: number | null;
  arm: string | null;
  route: string | null;
  served_version: number | null;
  served_model: string | null;
  status: number;
  error_class: string | null;
  stream: boolean;
  prompt_tokens: number | null;
  completion_tokens: number | null;
};

/** The stored event of one call, through the admin API (after the queue is flushed). */
export async function eventOf(g: Gateway, requestId: string): Promise<StoredEvent> {
  await eventsFlushed(g);
  return g.admin<StoredEvent>("GET", `/requests/${requestId}`);
}
