/**
 * Config propagation, as the acceptance test asks: two gateway processes on one
 * PostgreSQL. A pin (and an unpin) through replica A's admin API changes routing on replica B, a
 * separate `agentgate serve` process whose safety-net poll is ten minutes, so only LISTEN/NOTIFY
 * can explain a change within seconds. The test measures and prints the delay from the admin
 * answer to B's first call routed the new way. On PGlite, the in-process notification does the
 * same for one instance, for changes made outside its admin API (as the guardian's rollbacks and
 * the fine-tune follower's are): the admin API itself answers only after its replica's rebuild.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { notifyConfigChanged } from "../../src/db/notify.js";
import { PinService } from "../../src/registry/pins.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";
import { type GatewayProcess, startGatewayProcess, stopAllChildren } from "../helpers/gateway-process.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";

/** Only a failure guard: a change that takes longer than this is a lost notification. */
const GUARD_MS = 5_000;
const CHANGES = 20;
const NO_POLL = { AGENTGATE_ROUTING_POLL_MS: "600000" };

type Routed = { route: string | null; version: string | null };

/** One raw data-plane call (the lightest client, so the polling loop measures the gateway). */
async function routeOn(url: string, ref: string): Promise<Routed> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "x-agent": ref },
    body: JSON.stringify({ messages: [{ role: "user", content: "ping" }] }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`call on ${url}: ${res.status}`);
  return { route: res.headers.get("x-agentgate-route"), version: res.headers.get("x-agentgate-version") };
}

/** Polls `url` until its routing for `ref` is `want`; returns the milliseconds since `since`. */
async function delayUntil(url: string, ref: string, want: Routed, since: number): Promise<number> {
  for (;;) {
    const got = await routeOn(url, ref);
    if (got.route === want.route && got.version === want.version) return performance.now() - since;
    if (performance.now() - since > GUARD_MS) {
      throw new Error(`${url} still routes ${JSON.stringify(got)} ${GUARD_MS} ms after the change`);
    }
  }
}

/** Pins or unpins through the admin API and returns when its answer arrived. */
async function change(g: Gateway, pin: boolean): Promise<number> {
  if (pin)
    await g.admin("PUT", "/systems/prop/agents/coordinator/pin", { version: 2, reason: "propagation" });
  else await g.admin("DELETE", "/systems/prop/agents/coordinator/pin");
  return performance.now();
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
};
const PINNED: Routed = { route: "pinned", version: "2" };
const CHAMPION: Routed = { route: "champion", version: "1" };

describe.runIf(inject("pgAdminUrl") !== null)(
  "config propagation between two processes on PostgreSQL",
  () => {
    let a: Gateway;
    let b: GatewayProcess;

    beforeAll(async () => {
      a = await startGateway("postgres", NO_POLL);
      await seedSystem(a, "prop", ["coordinator"]);
      b = await startGatewayProcess({ DATABASE_URL: a.databaseUrl as string, ...NO_POLL });
    });
    afterAll(async () => {
      await b?.close();
      await stopAllChildren();
      await a?.close();
    });

    it(`a pin or unpin through replica A reaches replica B by NOTIFY (${CHANGES} changes, delay reported)`, {
      timeout: 60_000,
    }, async () => {
      expect(await routeOn(b.url, "prop/coordinator")).toEqual(CHAMPION);
      const delays: number[] = [];
      for (let i = 0; i < CHANGES; i++) {
        const pin = i % 2 === 0;
        const answeredAt = await change(a, pin);
        delays.push(await delayUntil(b.url, "prop/coordinator", pin ? PINNED : CHAMPION, answeredAt));
      }
      const p50 = quantile(delays, 0.5);
      const max = Math.max(...delays);
      console.log(
        `[propagation/postgres] pin/unpin on replica A → routing on replica B (separate process, poll 10 min): ` +
          `${CHANGES} changes, p50 ${p50.toFixed(1)} ms, p90 ${quantile(delays, 0.9).toFixed(1)} ms, max ${max.toFixed(1)} ms`,
      );
      expect(delays).toHaveLength(CHANGES);
      // Replica A had the last change before its admin API answered.
      expect(await routeOn(a.url, "prop/coordinator")).toEqual(CHAMPION);
      expect(b.stderr()).toBe("");
    });
  },
);

describe("config propagation in one process on PGlite", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway("pglite", NO_POLL);
    await seedSystem(g, "prop", ["coordinator"]);
  });
  afterAll(() => g?.close());

  it("a pin and an unpin made outside the admin API change routing through the in-process notification", async () => {
    const pins = new PinService(g.gw.dbHandle.db, notifyConfigChanged);
    const actor = { name: "propagation-test", scopes: [] };
    const change = async (pin: boolean) => {
      if (pin) await pins.pin(actor, "prop", "coordinator", 2, "propagation");
      else await pins.unpin(actor, "prop", "coordinator");
      return performance.now();
    };
    const reloads = () =>
      g.gw.metrics.routingReloadsTotal.get().then((m) => m.values.reduce((n, v) => n + v.value, 0));
    const before = await reloads();
    expect(await routeOn(g.url, "prop/coordinator")).toEqual(CHAMPION);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const pin = i % 2 === 0;
      const answeredAt = await change(pin);
      delays.push(await delayUntil(g.url, "prop/coordinator", pin ? PINNED : CHAMPION, answeredAt));
    }
    console.log(
      `[propagation/pglite] pin/unpin → routing, in-process NOTIFY: p50 ${quantile(delays, 0.5).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`,
    );
    // Each change was a reload triggered by its notification (the poll is ten minutes away).
    expect((await reloads()) - before).toBeGreaterThanOrEqual(6);
  });
});
