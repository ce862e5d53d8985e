/**
 * One simulated workflow run, as an agent framework would make it: every agent of the system is
 * called through the gateway with the official `openai` SDK, with `X-Agent: system/agent` and the
 * run's `X-Session-Id`, stage by stage (the agents of one stage in parallel), each stage seeing the
 * previous stage's output. The last stage streams, as a user-facing answer would. The evaluator
 * then grades the run (the answers' grades, combined by the topology's rule) and posts the outcome
 * as session feedback.
 */
import OpenAI from "openai";
import type { ApiClient } from "../cli/client.js";
import { BASE_MODEL, FEEDBACK_METRIC, type SystemSpec } from "./scenario.js";
import { GRADE_CORRECT } from "./upstream.js";

export type CallResult = {
  agent: string;
  ok: boolean;
  correct: boolean;
  /** The gateway's response headers: how the call was routed. */
  route: string | null;
  version: string | null;
  experiment: string | null;
  arm: string | null;
  requestId: string | null;
};

export type RunResult = {
  runId: string;
  success: boolean;
  /** The run's arm (of its first call in an experiment); null when no call was in one. */
  arm: string | null;
  /** False if calls of the run were assigned to different arms (never expected). */
  oneArm: boolean;
  calls: CallResult[];
};

export function agentClient(gatewayUrl: string, token: string): OpenAI {
  // No SDK retries: every call the demo makes is one call the gateway sees and counts.
  return new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: token, maxRetries: 0, timeout: 15_000 });
}

const header = (h: Headers, name: string) => h.get(name);

async function callAgent(
  client: OpenAI,
  system: SystemSpec,
  agent: string,
  runId: string,
  input: string,
  stream: boolean,
): Promise<CallResult & { content: string }> {
  const spec = system.agents.find((a) => a.name === agent);
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    // What the client sends; v1 versions replace it with their optimized prompt at the gateway.
    { role: "system", content: spec?.instructions ?? "" },
    { role: "user", content: `Run ${runId}, ${agent}: ${input}` },
  ];
  const options = { headers: { "X-Agent": `${system.name}/${agent}`, "X-Session-Id": runId } };
  const result: CallResult & { content: string } = {
    agent,
    ok: false,
    correct: false,
    route: null,
    version: null,
    experiment: null,
    arm: null,
    requestId: null,
    content: "",
  };
  const read = (h: Headers) => {
    result.route = header(h, "x-agentgate-route");
    result.version = header(h, "x-agentgate-version");
    result.experiment = header(h, "x-agentgate-experiment");
    result.arm = header(h, "x-agentgate-arm");
    result.requestId = header(h, "x-agentgate-request-id");
  };
  try {
    if (stream) {
      const { data, response } = await client.chat.completions
        .create(
          { model: BASE_MODEL, messages, stream: true, stream_options: { include_usage: true } },
          options,
        )
        .withResponse();
      read(response.headers);
      for await (const chunk of data) result.content += chunk.choices[0]?.delta?.content ?? "";
    } else {
      const { data, response } = await client.chat.completions
        .create({ model: BASE_MODEL, messages }, options)
        .withResponse();
      read(response.headers);
      result.content = data.choices[0]?.message?.content ?? "";
    }
    result.ok = true;
    result.correct = result.content.includes(GRADE_CORRECT);
  } catch (err) {
    // An error answer still says how it was routed.
    if (err instanceof OpenAI.APIError && err.headers) read(err.headers);
  }
  return result;
}

/** Runs the workflow once; a failed call ends the run as a failure, as it would in production. */
export async function runWorkflow(
  client: OpenAI,
  system: SystemSpec,
  runId: string,
  task: string,
): Promise<RunResult> {
  const calls: CallResult[] = [];
  let input = task;
  let failed = false;
  for (const [i, stage] of system.stages.entries()) {
    const last = i === system.stages.length - 1;
    const results = await Promise.all(
      stage.map((agent, j) =>
        callAgent(client, system, agent, runId, `step ${i + 1}.${j + 1}: ${input}`, last),
      ),
    );
    calls.push(...results);
    if (results.some((r) => !r.ok)) {
      failed = true;
      break;
    }
    // The next stage sees a digest of this one's answers (the grades stay with the answers).
    input = `${task} | previous: ${results.map((r) => r.content.slice(0, 60)).join(" / ")}`;
  }
  // Agents outside an agent-scoped experiment have no arm; those in it must share one.
  const arms = [...new Set(calls.map((c) => c.arm).filter((a) => a !== null))];
  return {
    runId,
    success: !failed && system.success(calls),
    arm: arms[0] ?? null,
    oneArm: arms.length <= 1,
    calls,
  };
}

/** The evaluator's verdict on a run, as session feedback. */
export function postOutcome(evaluator: ApiClient, run: RunResult): Promise<unknown> {
  return evaluator.post("/feedback", { session_id: run.runId, metric: FEEDBACK_METRIC, value: run.success });
}
