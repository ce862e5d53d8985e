/**
 * Text a client chose that PostgreSQL cannot store — a NUL character or an unpaired surrogate in
 * the `user` field or in the agent named in `model` — is valid JSON, so the call is proxied as
 * sent; its event stores the text with U+FFFD in place of what the database refuses. Before, one
 * such call failed its whole event batch, which went to the spool and failed again on every
 * replay, sending most later events to the spool behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { eventsFlushed, type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";
import { metricSum } from "../helpers/metrics.js";

const messages = [{ role: "user" as const, content: "hello" }];

for (const backend of backends()) {
  describe(`unstorable text in a call, on ${backend}`, () => {
    let g: Gateway;
    beforeAll(async () => {
      g = await startGateway(backend);
      await seedSystem(g, "shop", ["planner"]);
    });
    afterAll(async () => {
      await g?.close();
    });

    const eventOf = async (requestId: string) => {
      const r = await fetch(`${g.url}/api/v1/requests/${requestId}`, { headers: { authorization: g.auth } });
      expect(r.status, requestId).toBe(200);
      return (await r.json()) as Record<string, unknown>;
    };

    it("proxies the call as sent and stores its event with U+FFFD, without holding other events back", async () => {
      const client = g.client();
      const odd = await client.chat.completions
        .create({ model: "agent:shop/planner", messages, user: "alice\u0000\ud800" })
        .withResponse();
      expect(odd.data.choices[0]?.message.content).toBeTruthy();
      // The upstream got the user as the client sent it.
      expect((g.fake.requests.at(-1)?.body as { user?: string } | undefined)?.user).toBe("alice\u0000\ud800");

      const unknown = (await client.chat.completions
        .create({ model: "agent:sh\u0000op/plan\udc00ner", messages })
        .then(
          () => ({ status: 200, headers: new Headers() }),
          (e: unknown) => e,
        )) as { status: number; headers: Headers };
      expect(unknown.status).toBe(404);

      const plain = await client.chat.completions
        .create({ model: "agent:shop/planner", messages, user: "bob" })
        .withResponse();
      await eventsFlushed(g);

      const oddEvent = await eventOf(odd.response.headers.get("x-agentgate-request-id") as string);
      expect(oddEvent.user_id).toBe("alice\uFFFD\uFFFD");
      expect(oddEvent.status).toBe(200);
      const unknownEvent = await eventOf(unknown.headers.get("x-agentgate-request-id") as string);
      expect([unknownEvent.system, unknownEvent.agent, unknownEvent.status]).toEqual([
        "sh\uFFFDop",
        "plan\uFFFDner",
        404,
      ]);
      expect((await eventOf(plain.response.headers.get("x-agentgate-request-id") as string)).user_id).toBe(
        "bob",
      );
      // Nothing went to the spool, nothing was lost.
      expect(g.gw.recorder.pending).toBe(0);
      expect(await metricSum(g.url, "agentgate_events_spooled_total")).toBe(0);
      expect(await metricSum(g.url, "agentgate_events_dropped_total")).toBe(0);
    });
  });
}
