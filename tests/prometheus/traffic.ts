/**
 * Traffic that gives every dashboard panel and alert rule real series to read, through a real
 * gateway and the fake upstream (system "shop", every version priced):
 *   planner   experiment "planner-ft" (control v1 / ft v2) by workflow run: plain and streamed
 *             calls, upstream faults rescued by fallbacks, 5xx answers, run and call feedback;
 *   writer    pinned to v2 (route pinned), call feedback outside any experiment;
 *   critic    champion v1, moved to v2 (alias move) and back (`rollback`);
 *   reviewer  experiment "reviewer-bad" whose challenger always fails upstream, with an error_rate
 *             guardrail: the guardian rolls it back automatically;
 *   ghost     an unknown agent (404, route none);
 *   MLflow    two syncs against an MLflow that is not there (outcome error);
 *   fine-tune a job launched through the OpenAI-compatible endpoint on a fake trainer, cancelled
 *             (the gateway needs AGENTGATE_FINETUNE_TRAINER=trainer).
 * Each phase is split by `scraped()` (Prometheus has scraped since): a series appears at its first
 * increment, and a rate needs the scrape of a later increment, as steady traffic would give.
 */
import { toFile } from "openai";
import { expect } from "vitest";
import { startFakeTrainer } from "../fakes/fake-trainer.js";
import { eventsFlushed, type Gateway, routingSettled } from "../helpers/dataplane.js";

export const SYSTEM = "shop";
export const PRICING = { input_per_mtok: 0.15, output_per_mtok: 0.6 };

export type CallOutcome = {
  status: number;
  route: string | null;
  arm: string | null;
  version: string | null;
  requestId: string | null;
};

export type TrafficSummary = {
  calls: CallOutcome[];
  plannerSessions: Map<string, string>;
  rollbackExperiment: string;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | null | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function call(
  g: Gateway,
  agent: string,
  opts: { session?: string; stream?: boolean } = {},
): Promise<CallOutcome> {
  const res = await fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: g.auth,
      "content-type": "application/json",
      "x-agent": `${SYSTEM}/${agent}`,
      ...(opts.session ? { "x-session-id": opts.session } : {}),
    },
    body: JSON.stringify({
      model: "any",
      messages: [{ role: "user", content: `a question for the ${agent}` }],
      ...(opts.stream ? { stream: true } : {}),
    }),
  });
  await res.text();
  return {
    status: res.status,
    route: res.headers.get("x-agentgate-route"),
    arm: res.headers.get("x-agentgate-arm"),
    version: res.headers.get("x-agentgate-version"),
    requestId: res.headers.get("x-agentgate-request-id"),
  };
}

async function seed(g: Gateway, agents: Record<string, string[]>): Promise<void> {
  await g.admin("POST", "/systems", { name: SYSTEM, topology: "hierarchical" });
  for (const [agent, models] of Object.entries(agents)) {
    await g.admin("POST", `/systems/${SYSTEM}/agents`, { name: agent });
    for (const [i, model] of models.entries()) {
      await g.admin("POST", `/systems/${SYSTEM}/agents/${agent}/versions`, {
        kind: i === 0 ? "base_optimized" : "fine_tuned",
        upstream: "fake",
        model,
        pricing: PRICING,
      });
    }
  }
}

async function startExperiment(g: Gateway, body: Record<string, unknown>): Promise<number> {
  const exp = await g.admin<{ id: number }>("POST", "/experiments", { system: SYSTEM, ...body });
  await g.admin("POST", `/experiments/${exp.id}/start`);
  await routingSettled(g);
  return exp.id;
}

export async function generateTraffic(g: Gateway, scraped: () => Promise<void>): Promise<TrafficSummary> {
  const calls: CallOutcome[] = [];
  const record = (o: CallOutcome) => {
    calls.push(o);
    return o;
  };
  await seed(g, {
    planner: ["base-model", "ft-model"],
    writer: ["base-model", "ft-model"],
    critic: ["base-model", "ft-model"],
    reviewer: ["base-model", "other-model"],
  });
  await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
  await g.admin("POST", "/metrics", { name: "rating", type: "float", direction: "higher" });

  // planner: an experiment by workflow run, plain and streamed calls.
  await startExperiment(g, {
    name: "planner-ft",
    agent: "planner",
    unit: "session",
    arms: [
      { name: "control", weight: 1, versions: { planner: 1 } },
      { name: "ft", weight: 1, versions: { planner: 2 } },
    ],
  });
  const plannerSessions = new Map<string, string>();
  for (let i = 0; i < 40; i++) {
    if (i === 20) await scraped();
    const session = `run-${i}`;
    const plain = record(await call(g, "planner", { session }));
    const streamed = record(await call(g, "planner", { session, stream: true }));
    expect(plain.status).toBe(200);
    expect(streamed.status).toBe(200);
    expect(streamed.arm).toBe(plain.arm);
    plannerSessions.set(session, plain.arm as string);
  }
  const arms = new Set(plannerSessions.values());
  expect([...arms].sort()).toEqual(["control", "ft"]);

  // The fine-tune fails upstream 4 times: the champion serves those calls (route fallback).
  g.fake.setFault("ft-model", { fault: "500", times: 4 });
  const ftSessions = [...plannerSessions].filter(([, a]) => a === "ft").map(([s]) => s);
  for (const [k, session] of ftSessions.slice(0, 4).entries()) {
    if (k === 2) await scraped();
    const o = record(await call(g, "planner", { session, stream: true }));
    expect(o).toMatchObject({ status: 200, route: "fallback", arm: "ft" });
  }
  // Every model fails for a while: 5xx answers in both arms (the fallback fails too).
  g.fake.setFault("*", { fault: "503" });
  try {
    for (const [k, session] of [...plannerSessions.keys()].slice(0, 8).entries()) {
      if (k === 4) await scraped();
      record(await call(g, "planner", { session }));
    }
  } finally {
    g.fake.setFault("*", null);
  }
  expect(calls.filter((c) => c.status === 502).length).toBeGreaterThan(0);

  // writer: pinned to version 2.
  await g.admin("PUT", `/systems/${SYSTEM}/agents/writer/pin`, { version: 2, reason: "dashboard test" });
  await routingSettled(g);
  for (let i = 0; i < 10; i++) {
    if (i === 5) await scraped();
    const o = record(await call(g, "writer", { stream: i % 2 === 0 }));
    expect(o).toMatchObject({ status: 200, route: "pinned", version: "2" });
  }

  // critic: champion v1, an alias move to v2, then a rollback to v1.
  const critic = async (version: string, stream = false) => {
    for (let i = 0; i < 6; i++) {
      if (i === 3) await scraped();
      expect(record(await call(g, "critic", { stream }))).toMatchObject({ route: "champion", version });
    }
  };
  await critic("1");
  await g.admin("PUT", `/systems/${SYSTEM}/agents/critic/aliases/champion`, { version: 2 });
  await routingSettled(g);
  await critic("2");
  await g.admin("POST", `/systems/${SYSTEM}/agents/critic/rollback`, { reason: "dashboard test" });
  await routingSettled(g);
  await critic("1", true);

  // An unknown agent.
  expect(record(await call(g, "ghost")).status).toBe(404);
  await scraped();
  expect(record(await call(g, "ghost")).status).toBe(404);

  // MLflow, configured at a closed port: each sync stops (outcome "error").
  await g.admin("POST", "/mlflow/sync", {}, 502);
  await scraped();
  await g.admin("POST", "/mlflow/sync", {}, 502);

  // A fine-tune, as DSPy launches one, that reaches an end (cancelled).
  const trainer = await startFakeTrainer({ stepsPerRetrieve: 0 });
  try {
    await g.admin("POST", "/upstreams", { name: "trainer", base_url: trainer.url });
    const writer = g.client(
      (await g.admin<{ token: string }>("POST", "/tokens", { name: "trainer-bot", scopes: ["write"] })).token,
    );
    const example = (i: number) =>
      JSON.stringify({
        messages: [
          { role: "user", content: `What is ${i} + ${i}?` },
          { role: "assistant", content: String(2 * i) },
        ],
      });
    const file = await writer.files.create({
      file: await toFile(
        Buffer.from(Array.from({ length: 10 }, (_, i) => example(i)).join("\n")),
        "train.jsonl",
      ),
      purpose: "fine-tune",
    });
    const job = await writer.fineTuning.jobs.create({
      model: "gpt-4.1-mini",
      training_file: file.id,
      suffix: `${SYSTEM}.planner`,
    });
    expect((await writer.fineTuning.jobs.cancel(job.id)).status).toBe("cancelled");
  } finally {
    await trainer.close();
  }

  // reviewer: a challenger that always fails upstream, stopped by its guardrail.
  const rollbackExperiment = "reviewer-bad";
  g.fake.setFault("other-model", { fault: "500" });
  try {
    const id = await startExperiment(g, {
      name: rollbackExperiment,
      agent: "reviewer",
      arms: [
        { name: "control", weight: 1, versions: { reviewer: 1 } },
        { name: "bad", weight: 1, versions: { reviewer: 2 } },
      ],
      guardrails: [{ metric: "error_rate", max_increase: 0.1, min_units: 20 }],
    });
    for (let i = 0; i < 80; i++) {
      if (i === 10) await scraped();
      record(await call(g, "reviewer", { session: `review-${i}` }));
    }
    await eventsFlushed(g);
    await waitFor("the automatic rollback", async () => {
      const v = await g.admin<{ status: string }>("GET", `/experiments/${id}`);
      return v.status === "stopped";
    });
  } finally {
    g.fake.setFault("other-model", null);
  }

  // Feedback: on every planner run, and on single calls in and outside the experiment.
  await eventsFlushed(g);
  let i = 0;
  for (const [session, arm] of plannerSessions) {
    const resolved = arm === "ft" ? i % 4 !== 0 : i % 2 === 0;
    i++;
    await g.admin("POST", "/feedback", { session_id: session, metric: "resolved", value: resolved }, 201);
  }
  const rated = calls.filter((c) => c.status === 200 && c.requestId !== null).slice(0, 10);
  for (const [k, c] of rated.entries())
    await g.admin("POST", "/feedback", { request_id: c.requestId, metric: "rating", value: k % 5 }, 201);
  const writerCall = calls.find((c) => c.route === "pinned");
  await g.admin("POST", "/feedback", { request_id: writerCall?.requestId, metric: "rating", value: 4 }, 201);

  await eventsFlushed(g);
  return { calls, plannerSessions, rollbackExperiment };
}
