/**
 * Read-your-writes on the replica that took an admin write: once the admin API has answered, a
 * new proxy key works, a revoked one is refused and a pin routes, on that replica, at once. The
 * config-changed notification alone comes asynchronously (a starved database thread under load
 * once made a just-created key answer 401), so here every routing rebuild is held back 300 ms:
 * only an admin API that waits for its own replica's rebuild passes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../helpers/databases.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";

const HELD_BACK_MS = 300;

for (const backend of backends()) {
  describe(`an admin write is routable on its replica once answered, on ${backend}`, () => {
    let g: Gateway;
    let rebuilds = 0;
    beforeAll(async () => {
      g = await startGateway(backend, { AGENTGATE_ROUTING_POLL_MS: "600000" });
      await seedSystem(g, "ryw", ["writer"]);
      const routing = g.gw.routing;
      const reload = routing.reload.bind(routing);
      routing.reload = async () => {
        rebuilds++;
        await sleep(HELD_BACK_MS);
        return reload();
      };
    });
    afterAll(async () => {
      await g?.close();
    });

    const call = (key: string) =>
      new OpenAI({ baseURL: `${g.url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions
        .create({ model: "agent:ryw/writer", messages: [{ role: "user", content: "hi" }] })
        .withResponse();

    it("a proxy key works right after it is created, and is refused right after it is revoked", async () => {
      const before = rebuilds;
      const { token } = await g.admin<{ token: string }>("POST", "/tokens", {
        name: "fresh-key",
        scopes: ["proxy"],
      });
      expect(rebuilds).toBeGreaterThan(before);
      const { response } = await call(token);
      expect(response.status).toBe(200);

      await g.admin("DELETE", "/tokens/fresh-key");
      const refused = await call(token).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    });

    it("a pin routes right after it is set, and the champion right after it is lifted", async () => {
      await g.admin("PUT", "/systems/ryw/agents/writer/pin", { version: 2, reason: "read your writes" });
      const pinned = await g
        .client()
        .chat.completions.create({ model: "agent:ryw/writer", messages: [{ role: "user", content: "hi" }] })
        .withResponse();
      expect(pinned.response.headers.get("x-agentgate-route")).toBe("pinned");
      expect(pinned.response.headers.get("x-agentgate-version")).toBe("2");

      await g.admin("DELETE", "/systems/ryw/agents/writer/pin");
      const champion = await g
        .client()
        .chat.completions.create({ model: "agent:ryw/writer", messages: [{ role: "user", content: "hi" }] })
        .withResponse();
      expect(champion.response.headers.get("x-agentgate-route")).toBe("champion");
    });

    it("a read or a refused write does not wait for a rebuild", async () => {
      const before = rebuilds;
      await g.admin("GET", "/systems/ryw/agents/writer/versions");
      await g.admin("PUT", "/systems/ryw/agents/writer/pin", { version: 99, reason: "no such version" }, 404);
      expect(rebuilds).toBe(before);
    });
  });
}
