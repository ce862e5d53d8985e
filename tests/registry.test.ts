import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "./helpers/databases.js";
import { seedAgent, startTestInstance, type TestInstance } from "./helpers/instance.js";

describe.each(backends())("registry on %s", (backend) => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance(backend);
  });
  afterAll(() => t?.close());

  it("registers numbered versions and makes the first one champion", async () => {
    const { base } = await seedAgent(t, { versions: 2 });
    const agent = await t.http.get(base).set("authorization", t.auth);
    expect(agent.status).toBe(200);
    expect(agent.body).toMatchObject({ champion: 1, versions: 2, latest_version: 2, pin: null });
    const v2 = await t.http.get(`${base}/versions/2`).set("authorization", t.auth);
    expect(v2.body).toMatchObject({
      version: 2,
      kind: "fine_tuned",
      model: "model-2",
      aliases: [],
      pinned: false,
    });
  });
});
