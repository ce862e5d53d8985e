/**
 * A client that goes away in the middle of a stream: the gateway stops forwarding, records the
 * call as closed by the client (status 499, error class `aborted`) with the version that served
 * it, and keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../fakes/fake-upstream.js";
import { backends } from "../helpers/databases.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";
import { metricSum } from "../helpers/metrics.js";

const CHUNK_DELAY_MS = 150;

describe.each(backends())("a client that leaves mid-stream, on %s", (backend) => {
  let g: Gateway;
  let slow: FakeUpstream;

  beforeAll(async () => {
    g = await startGateway(backend);
    slow = await startFakeUpstream({ chunkDelayMs: CHUNK_DELAY_MS });
    await g.admin("POST", "/upstreams", { name: "slow", base_url: slow.url });
    await seedSystem(g, "leaving", ["writer"]);
    await g.admin("POST", "/systems/leaving/agents", { name: "slowpoke" });
    await g.admin("POST", "/systems/leaving/agents/slowpoke/versions", {
      kind: "base_optimized",
      upstream: "slow",
      model: "base-model",
    });
    await g.admin("POST", "/systems/leaving/agents", { name: "sleeper" });
    await g.admin("POST", "/systems/leaving/agents/sleeper/versions", {
      kind: "base_optimized",
      upstream: "slow",
      model: "other-model",
    });
    slow.setFault("other-model", { fault: "slow", delayMs: 3_000 });
    await routingSettled(g);
  });

  const eventOf = async (requestId: string): Promise<Record<string, unknown> | null> => {
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await eventsFlushed(g);
      const r = await fetch(`${g.url}/api/v1/requests/${requestId}`, { headers: { authorization: g.auth } });
      if (r.status === 200) return (await r.json()) as Record<string, unknown>;
    }
    return null;
  };

  afterAll(async () => {
    await g?.close();
    await slow?.close();
  });

  it("cancels the upstream, records 499/aborted, and serves the next call", async () => {
    const ac = new AbortController();
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: g.auth, "content-type": "application/json", "x-agent": "leaving/slowpoke" },
      body: JSON.stringify({ messages: [{ role: "user", content: "a long story please" }], stream: true }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-agentgate-request-id") as string;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    ac.abort();
    await reader.read().catch(() => {});

    // The gateway notices the close, cancels the upstream and records the call.
    const event = await eventOf(requestId);
    expect(event).not.toBeNull();
    expect(event?.status).toBe(499);
    expect(event?.error_class).toBe("aborted");
    expect(event?.served_version).toBe(1);

    // The gateway is still healthy after the broken-off stream.
    const sdk = g.client();
    const answer = await sdk.chat.completions.create({
      model: "agent:leaving/writer",
      messages: [{ role: "user", content: "still there?" }],
    });
    expect(answer.choices[0]?.message.content).toContain("still there?");
  });

  it("records a client that leaves while the upstream is still thinking as 499/aborted", async () => {
    const ac = new AbortController();
    const pending = fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: g.auth, "content-type": "application/json", "x-agent": "leaving/sleeper" },
      body: JSON.stringify({ messages: [{ role: "user", content: "take your time" }] }),
      signal: ac.signal,
    });
    pending.catch(() => {});
    // Wait until the gateway has forwarded the call, then leave.
    for (
      let i = 0;
      i < 100 && !slow.requests.some((r) => JSON.stringify(r.body).includes("take your time"));
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(pending).rejects.toThrow();
    const sleeperEvents = () => g.gw.dbHandle.db("inference_events").where({ agent: "sleeper" });
    let events: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await eventsFlushed(g);
      events = await sleeperEvents();
    }
    expect(events).toHaveLength(1);
    const event = events[0];
    expect(event?.status).toBe(499);
    expect(event?.error_class).toBe("aborted");
    // The client's cancellation is no upstream error; the requests counter has it as a 499.
    expect(await metricSum(g.url, "agentgate_requests_total", { agent: "sleeper", status: "499" })).toBe(1);
    expect(await metricSum(g.url, "agentgate_upstream_errors_total", { agent: "sleeper" })).toBe(0);
  });
});
