/**
 * `agentgate_feedback_value` attributes each feedback value as the experiment report does: a
 * call's value to the arm of its event, a workflow run's value to the arm of its calls, and
 * "none" outside experiments; the system label is never the client's unresolved X-Agent text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";

type Series = Record<string, string>;

/** `agentgate_feedback_value_<part>` samples, labels → value. */
async function samples(g: Gateway, part: "sum" | "count"): Promise<{ labels: Series; value: number }[]> {
  const text = await (await fetch(`${g.url}/metrics`)).text();
  const re = new RegExp(`^agentgate_feedback_value_${part}\\{([^}]*)\\} (\\S+)$`, "gm");
  return [...text.matchAll(re)].map((m) => ({
    labels: Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])),
    value: Number(m[2]),
  }));
}

describe.each(backends())("feedback values by arm on %s", (backend) => {
  let g: Gateway;

  const call = async (agent: string, session?: string) => {
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: g.auth,
        "content-type": "application/json",
        "x-agent": agent,
        ...(session ? { "x-session-id": session } : {}),
      },
      body: JSON.stringify({ model: "any", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.text();
    return {
      status: res.status,
      arm: res.headers.get("x-agentgate-arm"),
      id: res.headers.get("x-agentgate-request-id") as string,
    };
  };

  beforeAll(async () => {
    g = await startGateway(backend);
    await seedSystem(g, "fb", ["coordinator", "writer"]);
    await g.admin("POST", "/metrics", { name: "resolved", type: "boolean", direction: "higher" });
    await g.admin("POST", "/metrics", { name: "quality", type: "float", direction: "higher" });
    const exp = await g.admin<{ id: number }>("POST", "/experiments", {
      name: "fb-exp",
      system: "fb",
      agent: "coordinator",
      arms: [
        { name: "control", weight: 1, versions: { coordinator: 1 } },
        { name: "ft", weight: 1, versions: { coordinator: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${exp.id}/start`);
    await routingSettled(g);
  });
  afterAll(() => g?.close());

  it("attributes run feedback to the run's arm and call feedback to the call's arm", async () => {
    const runs = Array.from({ length: 12 }, (_, i) => `fb-run-${i}`);
    const armOf = new Map<string, string>();
    const callIds: { id: string; arm: string }[] = [];
    for (const run of runs) {
      const c = await call("fb/coordinator", run);
      // The writer is in no experiment: its events carry no arm, and do not dilute the run's.
      await call("fb/writer", run);
      expect(c.status).toBe(200);
      armOf.set(run, c.arm as string);
      callIds.push({ id: c.id, arm: c.arm as string });
    }
    expect(new Set(armOf.values())).toEqual(new Set(["control", "ft"]));
    await eventsFlushed(g);

    const expected = new Map<string, { sum: number; count: number }>();
    const add = (key: string, v: number) => {
      const e = expected.get(key) ?? { sum: 0, count: 0 };
      e.sum += v;
      e.count++;
      expected.set(key, e);
    };
    for (const [i, run] of runs.entries()) {
      const resolved = i % 3 !== 0;
      await g.admin("POST", "/feedback", { session_id: run, metric: "resolved", value: resolved }, 201);
      add(`fb-exp/${armOf.get(run)}/resolved`, resolved ? 1 : 0);
    }
    for (const [i, c] of callIds.slice(0, 5).entries()) {
      await g.admin("POST", "/feedback", { request_id: c.id, metric: "quality", value: i + 0.5 }, 201);
      add(`fb-exp/${c.arm}/quality`, i + 0.5);
    }
    // Outside any experiment: a writer call, and a run that only the writer served.
    const lone = await call("fb/writer", "fb-writer-only");
    await eventsFlushed(g);
    await g.admin("POST", "/feedback", { request_id: lone.id, metric: "quality", value: 2 }, 201);
    await g.admin(
      "POST",
      "/feedback",
      { session_id: "fb-writer-only", metric: "resolved", value: true },
      201,
    );
    add("none/none/quality", 2);
    add("none/none/resolved", 1);

    const got = new Map<string, { sum: number; count: number }>();
    for (const part of ["sum", "count"] as const) {
      for (const s of await samples(g, part)) {
        expect(s.labels.system).toBe("fb");
        const key = `${s.labels.experiment}/${s.labels.arm}/${s.labels.metric}`;
        const e = got.get(key) ?? { sum: 0, count: 0 };
        e[part] = s.value;
        got.set(key, e);
      }
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
  });

  it("labels feedback on a call to an unknown agent with system unknown", async () => {
    const c = await call("client-made-up-system/nobody");
    expect(c.status).toBe(404);
    await eventsFlushed(g);
    await g.admin("POST", "/feedback", { request_id: c.id, metric: "quality", value: 1 }, 201);
    const systems = new Set((await samples(g, "count")).map((s) => s.labels.system));
    expect(systems).toEqual(new Set(["fb", "unknown"]));
  });
});
