/**
 * Sticky arm assignment through the real data plane, as the acceptance test asks:
 * 2,000 workflow runs (sessions) × 4 agents of one system-scoped experiment, called with the
 * openai SDK. Every run's calls land in one arm, served by that arm's version of each agent; arm
 * shares follow the weights; and a second process, given only the experiment's salt and weights,
 * recomputes every run's arm. Then the other randomization units, the lifecycle (pause, resume,
 * stop), overlap refusal and invalid definitions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign } from "../../src/gateway/assignment.js";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";
import { spawnTsx, stopAllChildren } from "../helpers/gateway-process.js";
import { inParallel } from "../helpers/load.js";

const SYSTEM = "wf";
const AGENTS = ["coordinator", "researcher", "writer", "critic"];
/** Version n of every agent serves MODELS[n - 1]. */
const MODELS = ["base-model", "ft-model", "ft-global"];
/** Each arm gives every agent a different version, so the served model tells the arm. */
const ARMS = [
  { name: "control", weight: 50, versions: { coordinator: 1, researcher: 1, writer: 1, critic: 1 } },
  { name: "per_agent_ft", weight: 30, versions: { coordinator: 2, researcher: 2, writer: 3, critic: 3 } },
  { name: "hybrid", weight: 20, versions: { coordinator: 3, researcher: 3, writer: 2, critic: 2 } },
];
const SESSIONS = 2000;
const IN_FLIGHT = 32;
/**
 * The experiment's salt is random on creation; the big run pins it (in the database, before the
 * start) so its outcome is reproducible: with n = 2,000 the ±3-point bound is only ~2.7σ for the
 * 50% arm, and a fresh random salt would fail about one run in a hundred by chance alone.
 */
const FIXED_SALT = "acceptance-2000x4";

type Experiment = {
  id: number;
  salt: string;
  status: string;
  unit: string;
  arms: { name: string; weight: number; versions: Record<string, number> }[];
};
type Served = {
  route: string | null;
  arm: string | null;
  experiment: string | null;
  version: number;
  model: string;
  requestId: string;
};
type ApiError = { status: number; code: string; message: string; param: string | null };

const share = (n: number) => Math.round((n / SESSIONS) * 1000) / 10;

/** Calls one agent through the openai SDK and returns what the gateway says it did. */
async function call(
  g: Gateway,
  agent: string,
  opts: { session?: string; user?: string; system?: string } = {},
): Promise<Served> {
  const { data, response } = await g
    .client()
    .chat.completions.create(
      {
        model: `agent:${opts.system ?? SYSTEM}/${agent}`,
        messages: [{ role: "user", content: "next step" }],
        ...(opts.user ? { user: opts.user } : {}),
      },
      { headers: opts.session ? { "X-Session-Id": opts.session } : {} },
    )
    .withResponse();
  const h = response.headers;
  return {
    route: h.get("x-agentgate-route"),
    arm: h.get("x-agentgate-arm"),
    experiment: h.get("x-agentgate-experiment"),
    version: Number(h.get("x-agentgate-version")),
    model: data.model,
    requestId: h.get("x-agentgate-request-id") ?? "",
  };
}

/** The 4-agent system and its running 50/30/20 system-scoped experiment. */
async function startStrategies(g: Gateway, salt?: string): Promise<Experiment> {
  await seedSystem(g, SYSTEM, AGENTS, MODELS);
  const created = await g.admin<Experiment>("POST", "/experiments", {
    name: "strategies",
    system: SYSTEM,
    unit: "session",
    arms: ARMS,
  });
  if (salt) await g.gw.dbHandle.db("experiments").where({ id: created.id }).update({ salt });
  await g.admin("POST", `/experiments/${created.id}/start`);
  await routingSettled(g);
  return g.admin<Experiment>("GET", `/experiments/${created.id}`);
}

// 8,000 SDK calls take ~15 s on one backend on a 2-core machine; the data plane does not touch
// the database on the request path, so the scale run uses the embedded one, and the behaviour
// tests below run on every backend.
describe("2,000 workflow runs × 4 agents on pglite", () => {
  let g: Gateway;
  let exp: Experiment;
  const backend = "pglite";

  beforeAll(async () => {
    g = await startGateway(backend);
    exp = await startStrategies(g, FIXED_SALT);
  });
  afterAll(async () => {
    await stopAllChildren();
    await g?.close();
  });

  it("keeps every run's 4 agents in one arm, serves the arm's versions, follows the weights, and a second process agrees", {
    timeout: 120_000,
  }, async () => {
    expect(exp.salt).toBe(FIXED_SALT);
    expect(exp.status).toBe("running");
    // Call i is session i % 2000 on agent i / 2000: a run's four calls are spread over the whole load.
    const results = await inParallel(SESSIONS * AGENTS.length, IN_FLIGHT, (i) =>
      call(g, AGENTS[Math.floor(i / SESSIONS)] as string, { session: `run-${i % SESSIONS}` }),
    );

    const armOfSession: string[] = [];
    const mixed: string[] = [];
    const wrongVersion: string[] = [];
    for (let s = 0; s < SESSIONS; s++) {
      const calls = AGENTS.map((_, a) => results[a * SESSIONS + s] as Served);
      const arms = new Set(calls.map((c) => c.arm));
      if (arms.size !== 1) mixed.push(`run-${s}: ${[...arms].join(", ")}`);
      const armName = calls[0]?.arm as string;
      armOfSession.push(armName);
      const arm = ARMS.find((a) => a.name === armName);
      calls.forEach((c, a) => {
        const agent = AGENTS[a] as string;
        const want = arm?.versions[agent as keyof (typeof ARMS)[number]["versions"]];
        if (
          c.route !== "experiment" ||
          c.experiment !== String(exp.id) ||
          c.version !== want ||
          c.model !== MODELS[(want ?? 0) - 1]
        ) {
          wrongVersion.push(`run-${s}/${agent} in ${armName}: ${JSON.stringify(c)}`);
        }
      });
    }
    expect(mixed).toEqual([]);
    expect(wrongVersion).toEqual([]);

    const counts = Object.fromEntries(ARMS.map((a) => [a.name, 0]));
    for (const a of armOfSession) counts[a] = (counts[a] ?? 0) + 1;
    console.log(
      `[assignment/${backend}] ${SESSIONS} runs × ${AGENTS.length} agents: ` +
        ARMS.map((a) => `${a.name} ${share(counts[a.name] ?? 0)}% (weight ${a.weight}%)`).join(", "),
    );
    expect(Object.keys(counts).sort()).toEqual(ARMS.map((a) => a.name).sort());
    for (const a of ARMS) {
      expect(Math.abs(share(counts[a.name] ?? 0) - a.weight), a.name).toBeLessThanOrEqual(3);
    }

    // A second process, from the published salt and weights only.
    const offline = spawnTsx(
      "tests/helpers/assign-offline.ts",
      {},
      JSON.stringify({
        salt: exp.salt,
        arms: exp.arms.map((a) => ({ name: a.name, weight: a.weight })),
        keys: armOfSession.map((_, s) => `session:run-${s}`),
      }),
    );
    const exit = await offline.exited;
    expect(offline.stderr()).toBe("");
    expect(exit.code).toBe(0);
    const recomputed = JSON.parse(offline.stdout()) as string[];
    expect(recomputed).toHaveLength(SESSIONS);
    const disagreements = recomputed.flatMap((arm, s) =>
      arm === armOfSession[s] ? [] : [`run-${s}: gateway ${armOfSession[s]}, offline ${arm}`],
    );
    expect(disagreements).toEqual([]);

    // The events attribute every call to its run's arm (what the analysis reads).
    await eventsFlushed(g);
    const db = g.gw.dbHandle.db;
    const counted = await db("inference_events").where({ experiment_id: exp.id }).count({ n: "*" });
    expect(Number(counted[0]?.n)).toBe(SESSIONS * AGENTS.length);
    const split = await db("inference_events")
      .where({ experiment_id: exp.id })
      .groupBy("session_id")
      .havingRaw("count(distinct arm) > 1")
      .select("session_id");
    expect(split).toEqual([]);
  });
});

describe.each(backends())("experiment units and lifecycle on %s", (backend) => {
  let g: Gateway;
  let exp: Experiment;

  /** An admin call expected to fail: its status and OpenAI-shaped error. */
  const refused = async (method: string, path: string, body?: unknown): Promise<ApiError> => {
    const res = await fetch(`${g.url}/api/v1${path}`, {
      method,
      headers: { authorization: g.auth, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as { error: Omit<ApiError, "status"> };
    expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
    return { status: res.status, ...json.error };
  };

  beforeAll(async () => {
    g = await startGateway(backend);
    exp = await startStrategies(g);
  });
  afterAll(() => g?.close());

  it("falls back from session to the body's user, then to the request, when a call has no session", async () => {
    const byUser = await call(g, "writer", { user: "dana" });
    expect(byUser.arm).toBe(exp.arms[assign(exp.salt, "user:dana", [50, 30, 20]).arm]?.name);
    const bySession = await call(g, "writer", { user: "dana", session: "run-7" });
    expect(bySession.arm).toBe(exp.arms[assign(exp.salt, "session:run-7", [50, 30, 20]).arm]?.name);
    const alone = await call(g, "writer");
    expect(alone.arm).toBe(exp.arms[assign(exp.salt, `request:${alone.requestId}`, [50, 30, 20]).arm]?.name);
  });

  it("assigns per call with unit 'request', whatever the session", async () => {
    await seedSystem(g, "perreq", ["solo"], ["base-model", "ft-model"]);
    const e = await g.admin<Experiment>("POST", "/experiments", {
      name: "per-request",
      system: "perreq",
      agent: "solo",
      unit: "request",
      arms: [
        { name: "a", weight: 1, versions: { solo: 1 } },
        { name: "b", weight: 1, versions: { solo: 2 } },
      ],
    });
    expect(e.unit).toBe("request");
    await g.admin("POST", `/experiments/${e.id}/start`);
    await routingSettled(g);
    const calls = await inParallel(200, 16, () =>
      call(g, "solo", { system: "perreq", session: "one-run", user: "one-user" }),
    );
    for (const c of calls) {
      expect(c.arm).toBe(e.arms[assign(e.salt, `request:${c.requestId}`, [1, 1]).arm]?.name);
      expect(c.model).toBe(c.arm === "a" ? "base-model" : "ft-model");
    }
    const inA = calls.filter((c) => c.arm === "a").length;
    // One session, yet both arms, about evenly (200 fair coin flips: 60..140 is beyond 5σ).
    expect(inA).toBeGreaterThan(60);
    expect(inA).toBeLessThan(140);
  });

  it("assigns by the body's user with unit 'user', whatever the session", async () => {
    await seedSystem(g, "peruser", ["solo"], ["base-model", "ft-model"]);
    const e = await g.admin<Experiment>("POST", "/experiments", {
      name: "per-user",
      system: "peruser",
      agent: "solo",
      unit: "user",
      arms: [
        { name: "a", weight: 1, versions: { solo: 1 } },
        { name: "b", weight: 1, versions: { solo: 2 } },
      ],
    });
    await g.admin("POST", `/experiments/${e.id}/start`);
    await routingSettled(g);
    const users = Array.from({ length: 40 }, (_, u) => `user-${u}`);
    const seen = new Set<string>();
    for (const user of users) {
      // Three calls per user, each from a different workflow run.
      const arms = new Set<string | null>();
      for (let k = 0; k < 3; k++) {
        const c = await call(g, "solo", { system: "peruser", user, session: `${user}-run-${k}` });
        arms.add(c.arm);
      }
      expect([...arms], user).toEqual([e.arms[assign(e.salt, `user:${user}`, [1, 1]).arm]?.name]);
      seen.add([...arms][0] as string);
    }
    expect([...seen].sort()).toEqual(["a", "b"]);
  });

  it("refuses to start an experiment overlapping a running one with 409 experiment_conflict", async () => {
    const overlap = await g.admin<Experiment>("POST", "/experiments", {
      name: "overlap",
      system: SYSTEM,
      arms: [
        { name: "x", weight: 1, versions: { writer: 1, critic: 1 } },
        { name: "y", weight: 1, versions: { writer: 2, critic: 2 } },
      ],
    });
    const err = await refused("POST", `/experiments/${overlap.id}/start`);
    expect(err.status).toBe(409);
    expect(err.code).toBe("experiment_conflict");
    expect(err.message).toContain("'strategies'");
    expect((await g.admin<Experiment>("GET", `/experiments/${overlap.id}`)).status).toBe("draft");

    const agentScoped = await g.admin<Experiment>("POST", "/experiments", {
      name: "overlap-one-agent",
      system: SYSTEM,
      agent: "critic",
      arms: [
        { name: "x", weight: 1, versions: { critic: 1 } },
        { name: "y", weight: 1, versions: { critic: 3 } },
      ],
    });
    expect((await refused("POST", `/experiments/${agentScoped.id}/start`)).code).toBe("experiment_conflict");
    // Routing is untouched: runs keep their arm of the running experiment.
    await routingSettled(g);
    const c = await call(g, "critic", { session: "run-1" });
    expect(c.experiment).toBe(String(exp.id));
  });

  it("sends traffic to the champions while paused, back to the same arms when resumed, and to the champions once stopped", async () => {
    const sessions = Array.from({ length: 20 }, (_, s) => `run-${s}`);
    const before = await Promise.all(sessions.map((session) => call(g, "researcher", { session })));

    await g.admin("POST", `/experiments/${exp.id}/pause`);
    await routingSettled(g);
    const paused = await Promise.all(
      sessions.flatMap((session) => AGENTS.map((agent) => call(g, agent, { session }))),
    );
    for (const c of paused) {
      expect(c).toMatchObject({ route: "champion", arm: null, experiment: null, version: 1 });
      expect(c.model).toBe("base-model");
    }

    await g.admin("POST", `/experiments/${exp.id}/start`);
    await routingSettled(g);
    const resumed = await Promise.all(sessions.map((session) => call(g, "researcher", { session })));
    expect(resumed.map((c) => c.arm)).toEqual(before.map((c) => c.arm));

    const stopped = await g.admin<Experiment>("POST", `/experiments/${exp.id}/stop`, { reason: "done" });
    expect(stopped.status).toBe("stopped");
    await routingSettled(g);
    for (const agent of AGENTS) {
      const c = await call(g, agent, { session: "run-3" });
      expect(c).toMatchObject({ route: "champion", arm: null, experiment: null, version: 1 });
    }
    const restart = await refused("POST", `/experiments/${exp.id}/start`);
    expect(restart.status).toBe(409);
    expect(restart.code).toBe("invalid_state");

    // With the running experiment gone, the one refused earlier may start.
    const list = await g.admin<{ data: Experiment[] }>("GET", "/experiments?status=draft");
    const overlap = list.data.find((e) => e.arms.some((a) => a.name === "x" && a.versions.writer === 1));
    expect(overlap).toBeDefined();
    expect((await g.admin<Experiment>("POST", `/experiments/${overlap?.id}/start`)).status).toBe("running");
    await g.admin("POST", `/experiments/${overlap?.id}/stop`, {});
  });

  it("refuses invalid experiment definitions with 400/404 and a message naming the problem", async () => {
    const arms = (a: Record<string, number>, b: Record<string, number>) => [
      { name: "a", weight: 1, versions: a },
      { name: "b", weight: 1, versions: b },
    ];
    const base = { system: SYSTEM, arms: arms({ writer: 1 }, { writer: 2 }) };
    const cases: [string, Record<string, unknown>, number, string, RegExp][] = [
      ["one arm", { ...base, arms: base.arms.slice(0, 1) }, 400, "invalid_request", /at least 2 arms/],
      ["no arms", { system: SYSTEM }, 400, "invalid_request", /arms/],
      [
        "zero weight",
        { ...base, arms: [{ ...base.arms[0], weight: 0 }, base.arms[1]] },
        400,
        "invalid_request",
        /weight.*positive/,
      ],
      [
        "negative weight",
        { ...base, arms: [{ ...base.arms[0], weight: -1 }, base.arms[1]] },
        400,
        "invalid_request",
        /weight.*positive/,
      ],
      [
        "duplicate arm names",
        { ...base, arms: [base.arms[0], { ...base.arms[1], name: "a" }] },
        400,
        "invalid_request",
        /unique/,
      ],
      [
        "arm without versions",
        { ...base, arms: [{ name: "a", weight: 1, versions: {} }, base.arms[1]] },
        400,
        "invalid_request",
        /versions/,
      ],
      [
        "arms naming different agents",
        { ...base, arms: arms({ writer: 1 }, { critic: 2 }) },
        400,
        "invalid_request",
        /same agents/,
      ],
      [
        "agent-scoped arm naming another agent",
        { ...base, agent: "writer", arms: arms({ critic: 1 }, { critic: 2 }) },
        400,
        "invalid_request",
        /exactly agent 'writer'/,
      ],
      ["unknown unit", { ...base, unit: "team" }, 400, "invalid_request", /unit.*session, user, request/],
      ["unknown field", { ...base, colour: "blue" }, 400, "invalid_request", /colour/],
      [
        "version not a number",
        { ...base, arms: arms({ writer: 1 }, { writer: "two" } as never) },
        400,
        "invalid_request",
        /version/,
      ],
      ["unknown system", { ...base, system: "nosuch" }, 404, "system_not_found", /nosuch/],
      ["unknown agent", { ...base, arms: arms({ ghost: 1 }, { ghost: 2 }) }, 404, "agent_not_found", /ghost/],
      [
        "unknown version",
        { ...base, arms: arms({ writer: 1 }, { writer: 9 }) },
        404,
        "version_not_found",
        /version 9 .*writer/,
      ],
    ];
    for (const [what, body, status, code, message] of cases) {
      const err = await refused("POST", "/experiments", { name: "bad-one", ...body });
      expect({ what, status: err.status, code: err.code }).toEqual({ what, status, code });
      expect(err.message, what).toMatch(message);
    }
    expect(await g.gw.dbHandle.db("experiments").where({ name: "bad-one" }).first()).toBeUndefined();

    const missing = await refused("POST", "/experiments/999999/start");
    expect([missing.status, missing.code]).toEqual([404, "experiment_not_found"]);
    const badId = await refused("POST", "/experiments/abc/pause");
    expect(badId.status).toBe(400);
    const dup = await refused("POST", "/experiments", { name: "strategies", ...base });
    expect([dup.status, dup.code]).toEqual([409, "already_exists"]);
  });
});
