/**
 * What the demo plays: the four multi-agent architectures of the seed study (sequential,
 * hierarchical, collaborative, reflexive), how each workflow run calls its agents, when a run
 * counts as a success, and the simulated models behind every version — their quality (chance that
 * one answer is right), latency and price.
 *
 * Every agent gets three versions, the strategies the seed compares:
 *   v1  base+optimized: the base model with DSPy MIPROv2-optimized instructions and few-shot demos
 *       (the champion);
 *   v2  per-agent fine-tune: one fine-tuned model per agent, served like OpenAI fine-tunes
 *       (`ft:gpt-4.1-nano…`, priced by the shipped price table), without the long demos;
 *   v3  global fine-tune: one LoRA adapter shared by every agent of the system, self-hosted on
 *       vLLM, with a per-version price (the GPU cost per million tokens).
 * The hybrid arm mixes v1 and v2 per agent, as each topology's section of the seed suggests.
 */

export type Topology = "sequential" | "hierarchical" | "collaborative" | "reflexive";

export type AgentSpec = { name: string; role: string; instructions: string };

/** One simulated model as the upstream serves it. */
export type ModelSpec = {
  /** Chance that one answer is right (what the workflow's evaluator checks). */
  quality: number;
  /** Answer latency in ms (already scaled down for the demo: see LATENCY_SCALE). */
  latencyMs: number;
  /** Completion tokens of an answer, on average. */
  outputTokens: number;
  /** Chance that a call fails with a 503 (an overloaded server). */
  errorRate: number;
};

export type SystemSpec = {
  name: string;
  topology: Topology;
  description: string;
  agents: AgentSpec[];
  /** The stages of one run in order; the agents of one stage are called in parallel. */
  stages: string[][];
  /** Whether a run succeeded, from the correctness of each call of each stage. */
  success: (calls: { agent: string; correct: boolean }[]) => boolean;
  /** Agents on their per-agent fine-tune (v2) in the hybrid arm; the others stay on v1. */
  hybridFineTuned: string[];
  /** Quality of each agent's own fine-tune and of the system's shared one. */
  perAgentQuality: Record<string, number>;
  globalQuality: number;
};

/** Real latencies divided by this, so a demo of thousands of calls takes seconds. */
export const LATENCY_SCALE = 25;

export const BASE_MODEL = "gpt-4.1-mini";
export const BASE_QUALITY = 0.93;
export const FEEDBACK_METRIC = "task_success";

/** Per-version price of the self-hosted LoRA adapters (USD per million tokens: GPU time). */
export const LORA_PRICING = { input_per_mtok: 0.05, output_per_mtok: 0.2 };
/** Training costs recorded on the fine-tuned versions (USD), which the report's ROI uses. */
export const PER_AGENT_TRAINING_USD = 4.2;
export const GLOBAL_TRAINING_USD = 9.6;

const scaled = (realMs: number) => Math.round(realMs / LATENCY_SCALE);

const count = (calls: { agent: string; correct: boolean }[], agents: string[]) =>
  calls.filter((c) => agents.includes(c.agent) && c.correct).length;
const allOf = (calls: { agent: string; correct: boolean }[], agent: string) =>
  calls.filter((c) => c.agent === agent).every((c) => c.correct);

export const SYSTEMS: readonly SystemSpec[] = [
  {
    name: "research",
    topology: "sequential",
    description: "Sequential pipeline: plan, gather, draft, edit (4 stages)",
    agents: [
      { name: "planner", role: "stage 1", instructions: "Break the question into research steps." },
      { name: "researcher", role: "stage 2", instructions: "Gather the facts each step needs." },
      { name: "writer", role: "stage 3", instructions: "Write the answer from the facts." },
      { name: "editor", role: "stage 4", instructions: "Check and polish the answer." },
    ],
    stages: [["planner"], ["researcher"], ["writer"], ["editor"]],
    // An error anywhere propagates down the pipeline.
    success: (calls) => calls.every((c) => c.correct),
    hybridFineTuned: ["writer", "editor"],
    perAgentQuality: { planner: 0.975, researcher: 0.975, writer: 0.975, editor: 0.975 },
    globalQuality: 0.94,
  },
  {
    name: "support",
    topology: "hierarchical",
    description: "Hierarchical: a coordinator delegates to 3 specialists and merges their work",
    agents: [
      { name: "coordinator", role: "coordinator", instructions: "Route the ticket and merge the replies." },
      { name: "billing", role: "specialist", instructions: "Resolve billing questions." },
      { name: "shipping", role: "specialist", instructions: "Resolve shipping questions." },
      { name: "returns", role: "specialist", instructions: "Resolve returns and refunds." },
    ],
    stages: [["coordinator"], ["billing", "shipping", "returns"], ["coordinator"]],
    // The coordinator must plan and merge right; two of three specialists right is enough.
    success: (calls) => allOf(calls, "coordinator") && count(calls, ["billing", "shipping", "returns"]) >= 2,
    hybridFineTuned: ["billing", "shipping", "returns"],
    // The coordinator's own fine-tune lost generality; the specialists' gained.
    perAgentQuality: { coordinator: 0.9, billing: 0.97, shipping: 0.97, returns: 0.97 },
    globalQuality: 0.95,
  },
  {
    name: "debate",
    topology: "collaborative",
    description: "Collaborative: 3 debaters argue in parallel, a consensus agent decides",
    agents: [
      { name: "debater_a", role: "debater", instructions: "Argue for the most likely answer." },
      { name: "debater_b", role: "debater", instructions: "Argue for the most likely answer." },
      { name: "debater_c", role: "debater", instructions: "Argue for the most likely answer." },
      { name: "consensus", role: "judge", instructions: "Weigh the arguments and decide." },
    ],
    stages: [["debater_a", "debater_b", "debater_c"], ["consensus"]],
    success: (calls) =>
      allOf(calls, "consensus") && count(calls, ["debater_a", "debater_b", "debater_c"]) >= 2,
    hybridFineTuned: ["debater_a", "debater_b", "debater_c"],
    perAgentQuality: { debater_a: 0.96, debater_b: 0.96, debater_c: 0.96, consensus: 0.96 },
    globalQuality: 0.95,
  },
  {
    name: "reflect",
    topology: "reflexive",
    description: "Reflexive: an actor drafts, a critic reviews, a refiner revises",
    agents: [
      { name: "actor", role: "actor", instructions: "Draft a solution." },
      { name: "critic", role: "critic", instructions: "Find the flaws in the draft." },
      { name: "refiner", role: "refiner", instructions: "Revise the draft using the critique." },
    ],
    stages: [["actor"], ["critic"], ["refiner"]],
    // A bad draft can be saved by a good critique, but the refiner has the last word.
    success: (calls) => allOf(calls, "refiner") && count(calls, ["actor", "critic"]) >= 1,
    hybridFineTuned: ["actor"],
    perAgentQuality: { actor: 0.97, critic: 0.95, refiner: 0.97 },
    // One small model for three very different roles: it lost the critic's edge.
    globalQuality: 0.8,
  },
];

/** The arms of each system's strategy experiment: agent → version per arm. */
export function strategyArms(
  s: SystemSpec,
): { name: string; weight: number; versions: Record<string, number> }[] {
  const all = (v: number) => Object.fromEntries(s.agents.map((a) => [a.name, v]));
  const hybrid = Object.fromEntries(
    s.agents.map((a) => [a.name, s.hybridFineTuned.includes(a.name) ? 2 : 1]),
  );
  return [
    { name: "control", weight: 25, versions: all(1) },
    { name: "per_agent", weight: 25, versions: all(2) },
    { name: "global", weight: 25, versions: all(3) },
    { name: "hybrid", weight: 25, versions: hybrid },
  ];
}

export const perAgentModel = (system: string, agent: string) =>
  `ft:gpt-4.1-nano-2025-04-14:acme:${system}-${agent.replace(/_/g, "-")}:v1`;
export const globalModel = (system: string) => `qwen2.5-7b-instruct-lora-${system}-global`;

/** The guardrail demo's bad fine-tune: a new adapter on an overloaded server. */
export const BAD_MODEL = "ft:gpt-4.1-nano-2025-04-14:acme:support-billing:v2";

/** Every model the simulated upstream serves, by name. */
export function modelCatalog(systems: readonly SystemSpec[] = SYSTEMS): Map<string, ModelSpec> {
  const models = new Map<string, ModelSpec>();
  models.set(BASE_MODEL, { quality: BASE_QUALITY, latencyMs: scaled(900), outputTokens: 160, errorRate: 0 });
  for (const s of systems) {
    for (const a of s.agents) {
      const quality = s.perAgentQuality[a.name] ?? BASE_QUALITY;
      models.set(perAgentModel(s.name, a.name), {
        quality,
        latencyMs: scaled(400),
        outputTokens: 110,
        errorRate: 0,
      });
    }
    models.set(globalModel(s.name), {
      quality: s.globalQuality,
      latencyMs: scaled(600),
      outputTokens: 120,
      errorRate: 0,
    });
  }
  models.set(BAD_MODEL, { quality: 0.97, latencyMs: scaled(2500), outputTokens: 110, errorRate: 0.3 });
  return models;
}

/** The DSPy-optimized prompt of a v1 version: longer instructions and few-shot demos. */
export function optimizedPrompt(agent: AgentSpec) {
  const demo = (i: number) => [
    {
      role: "user" as const,
      content: `Example ${i}: a task like the ones ${agent.name} handles, with its context, constraints and the facts gathered so far, stated in full as the optimizer's bootstrapped traces recorded it.`,
    },
    {
      role: "assistant" as const,
      content: `Example answer ${i}: a worked, step-by-step answer in the format the evaluator expects, citing each fact it uses and ending with a short, checkable conclusion that the next agent can build on.`,
    },
  ];
  return {
    system: `${agent.instructions} Think step by step, state your assumptions, cite the facts you rely on and end with a one-line conclusion. Follow the format of the examples exactly.`,
    mode: "replace" as const,
    demos: [1, 2, 3, 4].flatMap(demo),
  };
}

/** The short prompt of a fine-tuned version: the behaviour is in the weights, not the demos. */
export const fineTunedPrompt = (agent: AgentSpec) => ({
  system: agent.instructions,
  mode: "replace" as const,
  demos: [],
});
