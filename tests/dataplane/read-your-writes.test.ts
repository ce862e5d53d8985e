/**
 * Events are written in batches (every 500 ms on PGlite by default), yet a call shows in
 * `GET /api/v1/requests/{id}` as soon as its answer is back: the replica that still holds the
 * event writes it on demand. Here batches would wait 10 s.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";

for (const backend of backends()) {
  describe(`a call's event right after its answer, on ${backend}`, () => {
    let g: Gateway;
    beforeAll(async () => {
      g = await startGateway(backend, { AGENTGATE_EVENT_FLUSH_MS: "10000" });
      await seedSystem(g, "shop", ["planner"]);
    });
    afterAll(async () => {
      await g?.close();
    });

    const get = (id: string) =>
      fetch(`${g.url}/api/v1/requests/${id}`, { headers: { authorization: g.auth } });

    it("is shown at once, though its batch is not due for seconds", async () => {
      const calls = await Promise.all(
        [1, 2, 3].map(() =>
          g
            .client()
            .chat.completions.create({
              model: "agent:shop/planner",
              messages: [{ role: "user", content: "hi" }],
            })
            .withResponse(),
        ),
      );
      const ids = calls.map((c) => c.response.headers.get("x-agentgate-request-id") as string);
      const stored = () => g.gw.dbHandle.db("inference_events").whereIn("request_id", ids).count({ n: "*" });
      expect(await stored()).toEqual([{ n: 0 }]);

      const started = Date.now();
      const r = await get(ids[0] as string);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ request_id: ids[0], agent: "planner", status: 200 });
      expect(Date.now() - started).toBeLessThan(5_000);
      // The write took what was queued with it: the other calls are stored too.
      expect(await stored()).toEqual([{ n: 3 }]);
    });

    it("answers 404 for an id this gateway never answered", async () => {
      const r = await get(randomUUID());
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("request_not_found");
    });
  });
}
