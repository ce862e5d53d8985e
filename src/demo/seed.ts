/**
 * Seeds the demo through the admin API, with the same calls a user (or the CLI) makes: two
 * upstreams on the simulated provider, the `task_success` metric, a token for the agents (scope
 * proxy) and one for the evaluator (scope feedback), the four systems with their agents and three
 * versions each, and one system-scoped strategy experiment per system, started.
 */
import { type ApiClient, seg } from "../cli/client.js";
import type { ExperimentView } from "../experiments/schemas.js";
import {
  BASE_MODEL,
  FEEDBACK_METRIC,
  fineTunedPrompt,
  GLOBAL_TRAINING_USD,
  globalModel,
  LORA_PRICING,
  optimizedPrompt,
  PER_AGENT_TRAINING_USD,
  perAgentModel,
  type SystemSpec,
  strategyArms,
} from "./scenario.js";

/** The names of the simulated providers, as registered upstreams. */
export const OPENAI_UPSTREAM = "openai-sim";
export const VLLM_UPSTREAM = "vllm-sim";

export type Seeded = {
  /** Token of scope `proxy` the simulated agents call the gateway with. */
  agentToken: string;
  /** Token of scope `feedback` the simulated evaluator posts outcomes with. */
  evaluatorToken: string;
  /** The strategy experiment of each system, by system name. */
  experiments: Map<string, ExperimentView>;
};

/** Upstreams, metric and tokens: what every system shares. */
export async function seedShared(
  api: ApiClient,
  upstreamOrigin: string,
  apiKeyEnv: string,
): Promise<Pick<Seeded, "agentToken" | "evaluatorToken">> {
  // Two "providers" on one simulated server: OpenAI for the base model and its fine-tunes, a
  // vLLM server for the LoRA adapters. The key is referenced by variable name, never stored.
  for (const [name, prefix] of [
    [OPENAI_UPSTREAM, "openai"],
    [VLLM_UPSTREAM, "vllm"],
  ] as const) {
    await api.post("/upstreams", {
      name,
      base_url: `${upstreamOrigin}/${prefix}/v1`,
      api_key_env: apiKeyEnv,
      timeout_ms: 10_000,
    });
  }
  await api.post("/metrics", {
    name: FEEDBACK_METRIC,
    type: "boolean",
    direction: "higher",
    description: "the workflow run's final answer was right (the demo's evaluator)",
  });
  const token = (name: string, scopes: string[]) =>
    api.post<{ token: string }>("/tokens", { name, scopes }).then((t) => t.token);
  return {
    agentToken: await token("demo-agents", ["proxy"]),
    evaluatorToken: await token("demo-evaluator", ["feedback"]),
  };
}

/** One system: its agents, their v1/v2/v3 versions, and its strategy experiment (started). */
export async function seedSystem(api: ApiClient, s: SystemSpec): Promise<ExperimentView> {
  await api.post("/systems", { name: s.name, topology: s.topology, description: s.description });
  const shared = s.agents.map((a) => a.name).join(",");
  await Promise.all(
    s.agents.map(async (a) => {
      const agentPath = `/systems/${seg(s.name)}/agents`;
      await api.post(agentPath, { name: a.name, role: a.role, description: a.instructions });
      const versions = `${agentPath}/${seg(a.name)}/versions`;
      // v1 first: the first version of an agent becomes its champion.
      await api.post(versions, {
        kind: "base_optimized",
        upstream: OPENAI_UPSTREAM,
        model: BASE_MODEL,
        prompt: optimizedPrompt(a),
        params: { temperature: 0 },
        lineage: { base_model: BASE_MODEL, optimizer: "dspy.MIPROv2(auto=medium)" },
        tags: { strategy: "base_optimized" },
      });
      await api.post(versions, {
        kind: "fine_tuned",
        upstream: OPENAI_UPSTREAM,
        model: perAgentModel(s.name, a.name),
        prompt: fineTunedPrompt(a),
        params: { temperature: 0 },
        lineage: {
          parent_version: 1,
          base_model: "gpt-4.1-nano-2025-04-14",
          dataset: `${s.name}-${a.name}-traces-v1`,
          fine_tune_job: `ftjob-demo-${s.name}-${a.name}`,
        },
        training_cost_usd: PER_AGENT_TRAINING_USD,
        tags: { strategy: "per_agent" },
      });
      // One adapter for the whole system: each agent's version carries its share of the cost.
      await api.post(versions, {
        kind: "fine_tuned",
        upstream: VLLM_UPSTREAM,
        model: globalModel(s.name),
        prompt: fineTunedPrompt(a),
        params: { temperature: 0 },
        lineage: {
          parent_version: 1,
          base_model: "Qwen/Qwen2.5-7B-Instruct",
          dataset: `${s.name}-all-agents-traces-v1`,
          fine_tune_job: `lora-demo-${s.name}-global`,
        },
        training_cost_usd: Number((GLOBAL_TRAINING_USD / s.agents.length).toFixed(4)),
        pricing: LORA_PRICING,
        tags: { strategy: "global", shared_by: shared },
      });
    }),
  );
  const experiment = await api.post<ExperimentView>("/experiments", {
    name: `${s.name}-strategies`,
    system: s.name,
    unit: "session",
    description: `${s.topology}: base+optimized vs per-agent, global and hybrid fine-tunes`,
    arms: strategyArms(s),
    primary_metric: FEEDBACK_METRIC,
  });
  return api.post<ExperimentView>(`/experiments/${experiment.id}/start`);
}

/** Everything, the systems in parallel (each system's own calls in order). */
export async function seedAll(
  api: ApiClient,
  systems: readonly SystemSpec[],
  upstreamOrigin: string,
  apiKeyEnv: string,
): Promise<Seeded> {
  const tokens = await seedShared(api, upstreamOrigin, apiKeyEnv);
  const started = await Promise.all(systems.map((s) => seedSystem(api, s)));
  return { ...tokens, experiments: new Map(started.map((e) => [e.system, e])) };
}
