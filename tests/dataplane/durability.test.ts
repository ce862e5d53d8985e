/**
 * No event lost, none duplicated, as the acceptance test asks:
 *   - the database becomes unreachable under load (a TCP proxy between agentgate and PostgreSQL
 *     cuts every connection and resets new ones for ~2 s), then comes back: the gateway keeps
 *     answering from its last routing snapshot, events spill to the disk spool and are replayed;
 *     in the end events stored == calls answered, each request id exactly once, none dropped;
 *   - SIGTERM on `agentgate serve` with calls in flight: they finish, the event queue drains,
 *     the process exits 0, and every answered call has its event.
 */
import { readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";
import { createPgDatabase, type TestDatabase } from "../helpers/databases.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";
import { type GatewayProcess, startGatewayProcess, stopAllChildren } from "../helpers/gateway-process.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { inParallel, sleep, waitFor } from "../helpers/load.js";

const pgAvailable = inject("pgAdminUrl") !== null;

/** A TCP proxy in front of PostgreSQL that can cut the database off and bring it back. */
async function startPgProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let down = false;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(client);
    track(upstream);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const viaProxy = new URL(target);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(port);
  return {
    url: viaProxy.toString(),
    /** Destroys every connection and resets every new one until `restore()`. */
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    async close() {
      down = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} not exported`);
  return Number(line.split(" ")[1]);
}

async function storedIds(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ request_id: string }>("select request_id from inference_events");
    return rows.map((r) => r.request_id);
  } finally {
    await client.end();
  }
}

type Answered = { id: string; status: number; startedAt: number };

describe.runIf(pgAvailable)("events survive a database outage under load (PostgreSQL)", () => {
  let db: TestDatabase;
  let proxy: Awaited<ReturnType<typeof startPgProxy>>;
  let g: Gateway;

  beforeAll(async () => {
    db = await createPgDatabase();
    proxy = await startPgProxy(new URL(db.url));
    // A ten-minute routing poll: after the outage, only the re-established LISTEN explains a change.
    g = await startGateway(
      "postgres",
      { DATABASE_URL: proxy.url, AGENTGATE_ROUTING_POLL_MS: "600000" },
      { database: db },
    );
    await seedSystem(g, "durable", ["coordinator", "worker"]);
  });
  afterAll(async () => {
    proxy?.restore();
    await g?.close();
    await proxy?.close();
  });

  it("spools while PostgreSQL is cut off, replays when it returns: stored == answered, each id once, none dropped", {
    timeout: 60_000,
  }, async () => {
    // ~50 ms per upstream call and 16 in flight: a steady few hundred calls per second.
    g.fake.setFault("*", { fault: "slow", delayMs: 50 });
    const answered: Answered[] = [];
    let failedCalls = 0;
    let stop = false;
    const client = g.client();
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const startedAt = performance.now();
        const agent = (w + i) % 2 === 0 ? "coordinator" : "worker";
        try {
          const stream = i % 4 === 3;
          const { response, data } = await client.chat.completions
            .create(
              { model: `agent:durable/${agent}`, messages: [{ role: "user", content: "work" }], stream },
              { headers: { "X-Session-Id": `run-${w}-${Math.floor(i / 2)}` } },
            )
            .withResponse();
          if (stream) for await (const _ of data as AsyncIterable<unknown>);
          answered.push({
            id: response.headers.get("x-agentgate-request-id") ?? "",
            status: response.status,
            startedAt,
          });
        } catch (err) {
          failedCalls++;
          const e = err as { status?: number; headers?: Headers };
          if (e.status && e.headers)
            answered.push({ id: e.headers.get("x-agentgate-request-id") ?? "", status: e.status, startedAt });
        }
      }
    };
    const workers = Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    try {
      await waitFor("150 answers before the cut", () => (answered.length >= 150 ? true : undefined), 20_000);
      const cutAt = performance.now();
      proxy.cut();
      await sleep(2_000);
      proxy.restore();
      const restoredAt = performance.now();
      const atRestore = answered.length;
      await waitFor(
        "150 answers after the restore",
        () => (answered.length >= atRestore + 150 ? true : undefined),
        20_000,
      );
      stop = true;
      await workers;

      const duringCut = answered.filter((a) => a.startedAt >= cutAt && a.startedAt < restoredAt);
      expect(failedCalls).toBe(0);
      expect(answered.every((a) => a.status === 200)).toBe(true);
      // Routing needs no database: the gateway answered all along, from its last snapshot.
      expect(duringCut.length).toBeGreaterThan(50);

      // Wait for the spool to be replayed (and the queue written).
      await waitFor(
        "the spool to drain",
        async () => {
          await g.gw.recorder.flush();
          await g.gw.recorder.replay();
          return g.gw.recorder.pending === 0 ? true : undefined;
        },
        20_000,
        100,
      );
      const ids = answered.map((a) => a.id);
      expect(new Set(ids).size).toBe(ids.length);
      const stored = await storedIds(db.url);
      const storedSet = new Set(stored);
      expect(storedSet.size).toBe(stored.length);
      const missing = ids.filter((id) => !storedSet.has(id));
      const extra = stored.filter((id) => !ids.includes(id));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
      expect(stored.length).toBe(answered.length);

      const spooled = await metricValue(g.url, "agentgate_events_spooled_total");
      const dropped = await metricValue(g.url, "agentgate_events_dropped_total");
      const written = await metricValue(g.url, "agentgate_events_written_total");
      console.log(
        `[durability/postgres] ${answered.length} calls answered (${duringCut.length} during the 2 s cut); ` +
          `events stored ${stored.length}, spooled ${spooled}, written ${written}, dropped ${dropped}`,
      );
      expect(dropped).toBe(0);
      // The outage really went through the spool, and it is empty now.
      expect(spooled).toBeGreaterThan(0);
      expect(readdirSync(path.join(g.dataDir, "spool"))).toEqual([]);
      expect(await metricValue(g.url, "agentgate_events_spool_pending")).toBe(0);

      // Replay is idempotent: a spool file holding events already stored (as a crash between the
      // insert and the unlink would leave) is consumed without duplicating a row.
      const again = (await g.gw.dbHandle.db("inference_events").limit(50).select("*")).map(
        ({ agent_id: _, ...e }) => ({ ...e, at: new Date(e.at).toISOString() }),
      );
      const replayFile = path.join(g.dataDir, "spool", "events-0-replayed-twice.jsonl");
      writeFileSync(replayFile, `${again.map((e) => JSON.stringify(e)).join("\n")}\n`);
      await g.gw.recorder.replay();
      expect(readdirSync(path.join(g.dataDir, "spool"))).toEqual([]);
      expect(await storedIds(db.url)).toHaveLength(answered.length);

      // The config listener reconnected after the outage: a pin reaches routing by NOTIFY again.
      await g.admin("PUT", "/systems/durable/agents/worker/pin", { version: 2, reason: "after the outage" });
      await waitFor(
        "the pin to reach routing",
        async () => {
          const { response } = await client.chat.completions
            .create({ model: "agent:durable/worker", messages: [{ role: "user", content: "x" }] })
            .withResponse();
          return response.headers.get("x-agentgate-route") === "pinned" ? true : undefined;
        },
        5_000,
      );
    } finally {
      stop = true;
      proxy.restore();
      await workers;
      g.fake.setFault("*", null);
    }
  });
});

describe.runIf(pgAvailable)("SIGTERM drains a gateway process (PostgreSQL)", () => {
  let db: TestDatabase;
  let fake: FakeUpstream;
  let gw: GatewayProcess;
  /** Request ids of every call that got an answer, whatever its status. */
  const answered: string[] = [];

  beforeAll(async () => {
    db = await createPgDatabase();
    fake = await startFakeUpstream();
    gw = await startGatewayProcess({ DATABASE_URL: db.url });
    const admin = async (p: string, body: unknown) => {
      const res = await fetch(`${gw.url}/api/v1${p}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    };
    await admin("/upstreams", { name: "fake", base_url: fake.url });
    await admin("/systems", { name: "drain", topology: "sequential" });
    await admin("/systems/drain/agents", { name: "solo" });
    await admin("/systems/drain/agents/solo/versions", {
      kind: "base_optimized",
      upstream: "fake",
      model: "m",
    });
    // The process's routing table reloads on the notification of the last change.
    await waitFor("the agent to be routable", async () => {
      const res = await callOnce(gw.url, "warmup");
      answered.push(res.id);
      return res.status === 200 ? true : undefined;
    });
  });
  afterAll(async () => {
    await gw?.close();
    await stopAllChildren();
    await fake?.close();
    await db?.drop();
  });

  it("finishes the calls in flight, writes every event and exits 0 without waiting for idle connections", {
    timeout: 60_000,
  }, async () => {
    const batch = await inParallel(300, 16, (i) => callOnce(gw.url, `run-${i}`));
    for (const r of batch) {
      expect(r.status).toBe(200);
      answered.push(r.id);
    }
    // Eight calls still waiting on a slow upstream (400 ms) when SIGTERM arrives.
    fake.setFault("*", { fault: "slow", delayMs: 400 });
    const before = fake.requests.length;
    const inFlight = Promise.all(Array.from({ length: 8 }, (_, i) => callOnce(gw.url, `late-${i}`)));
    await waitFor("the slow calls to reach the upstream", () =>
      fake.requests.length >= before + 8 ? true : undefined,
    );
    const stoppedAt = performance.now();
    const exited = gw.stop("SIGTERM");
    for (const r of await inFlight) {
      expect(r.status).toBe(200);
      answered.push(r.id);
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    const stopMs = performance.now() - stoppedAt;
    expect(gw.stderr()).toBe("");
    // The keep-alive connections of the calls in flight close with their answers: the stop does
    // not sit out the 5 s cut-off for lingering connections.
    expect(stopMs).toBeLessThan(4_000);

    const stored = await storedIds(db.url);
    console.log(
      `[durability/sigterm] ${answered.length} calls answered (8 in flight at SIGTERM); ` +
        `${stored.length} events stored; exit 0 after ${stopMs.toFixed(0)} ms`,
    );
    expect(new Set(stored).size).toBe(stored.length);
    expect([...stored].sort()).toEqual([...answered].sort());
  });
});

/** One raw data-plane call with its session id; returns the status and the request id. */
async function callOnce(url: string, session: string): Promise<{ status: number; id: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      "content-type": "application/json",
      "x-agent": "drain/solo",
      "x-session-id": session,
    },
    body: JSON.stringify({ messages: [{ role: "user", content: "work" }] }),
  });
  await res.arrayBuffer();
  return { status: res.status, id: res.headers.get("x-agentgate-request-id") ?? "" };
}
