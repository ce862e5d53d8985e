/** A complete inference event for the event-pipeline suites, with a fresh request id. */
import { randomUUID } from "node:crypto";
import type { InferenceEvent } from "../../src/events/recorder.js";

export function sampleEvent(over: Partial<InferenceEvent> = {}): InferenceEvent {
  return {
    request_id: randomUUID(),
    at: "2026-11-26T01:02:03.456Z",
    system: "shop",
    agent: "planner",
    agent_id: null,
    route: "champion",
    experiment_id: null,
    arm: null,
    assigned_version: 3,
    served_version: 3,
    served_model: "gpt-4o-mini",
    upstream: "openai",
    fallback: false,
    stream: true,
    status: 200,
    error_class: null,
    session_id: null,
    user_id: null,
    unit_key: null,
    latency_ms: 12.5,
    upstream_ms: 11.25,
    ttft_ms: 3.125,
    prompt_tokens: 61,
    completion_tokens: 9,
    cached_tokens: 0,
    cost_usd: 0.0000146,
    ...over,
  };
}
