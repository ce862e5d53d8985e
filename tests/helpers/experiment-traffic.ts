/**
 * Traffic for experiment tests: calls through the gateway with the openai SDK, each recorded as
 * the gateway described it in its response headers (arm, route, version, status) — the tests'
 * independent account of what was sent, to hold reports against.
 */
import { APIError } from "openai";
import type { Gateway } from "./dataplane.js";

export type Call = {
  session: string;
  agent: string;
  arm: string | null;
  route: string | null;
  version: number;
  status: number;
  requestId: string;
};

/** One chat call for `system/agent` in workflow run `session`; an error answer is a Call too. */
export async function chat(
  g: Gateway,
  system: string,
  agent: string,
  session: string,
  content: string,
): Promise<Call> {
  const describe = (status: number, h: Headers): Call => ({
    session,
    agent,
    arm: h.get("x-agentgate-arm"),
    route: h.get("x-agentgate-route"),
    version: Number(h.get("x-agentgate-version")),
    status,
    requestId: h.get("x-agentgate-request-id") ?? "",
  });
  try {
    const { response } = await g
      .client()
      .chat.completions.create(
        { model: `agent:${system}/${agent}`, messages: [{ role: "user", content }] },
        { headers: { "X-Session-Id": session } },
      )
      .withResponse();
    return describe(response.status, response.headers);
  } catch (err) {
    if (err instanceof APIError && err.status !== undefined && err.headers)
      return describe(err.status, err.headers as Headers);
    throw err;
  }
}

/** Runs `run(item)` for every item, `concurrency` at a time. */
export async function inPool<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

/** Per arm: the distinct sessions (units) and the calls that the headers attributed to it. */
export function tally(calls: readonly Call[]): Map<string, { units: Set<string>; calls: number }> {
  const out = new Map<string, { units: Set<string>; calls: number }>();
  for (const c of calls) {
    if (c.arm === null) continue;
    const t = out.get(c.arm) ?? { units: new Set<string>(), calls: 0 };
    t.units.add(c.session);
    t.calls++;
    out.set(c.arm, t);
  }
  return out;
}

/**
 * Inserts `units` synthetic one-call units for `arm` straight into the event table: a skewed
 * split, as broken assignment or lost exposure logs would produce, for the sample-ratio check.
 */
export async function insertSkew(
  g: Gateway,
  e: { id: number; system: string; agent: string },
  arm: string,
  units: number,
): Promise<void> {
  const db = g.gw.dbHandle.db;
  const rows = Array.from({ length: units }, (_, i) => ({
    request_id: `synthetic-${e.id}-${arm}-${i}`,
    at: new Date().toISOString(),
    system: e.system,
    agent: e.agent,
    route: "experiment",
    experiment_id: e.id,
    arm,
    status: 200,
    session_id: `synthetic-${arm}-${i}`,
    unit_key: `session:synthetic-${arm}-${i}`,
    latency_ms: 5,
    prompt_tokens: 3,
    completion_tokens: 5,
  }));
  for (let i = 0; i < rows.length; i += 200) await db("inference_events").insert(rows.slice(i, i + 200));
}

/** Pins an experiment's salt before it starts, so its assignment (and the tests) are reproducible. */
export async function fixSalt(g: Gateway, id: number, salt: string): Promise<void> {
  await g.gw.dbHandle.db("experiments").where({ id }).update({ salt });
}
