/**
 * Promotion: `POST /api/v1/experiments/{id}/promote {arm, force?, reason?}` makes the arm's
 * versions the champions of their agents (audited, alias history action `promote`), concludes
 * the experiment, and the gateway follows. Refused for an unknown arm, a draft experiment, a
 * second promotion, and — unless forced — while the sample-ratio check is flagged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNoChange } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { type Gateway, routingSettled, seedSystem, startGateway } from "../helpers/dataplane.js";
import { type Call, chat, fixSalt, inPool, insertSkew } from "../helpers/experiment-traffic.js";

type Promoted = {
  experiment: number;
  arm: string;
  champions: { agent: string; from: number | null; to: number }[];
  srm_p: number | null;
  forced: boolean;
};
type AuditEntry = {
  actor: string;
  action: string;
  object_type: string;
  object_key: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown>;
  reason: string | null;
};
type AliasWithHistory = {
  version: number;
  history: { from_version: number | null; to_version: number; action: string; reason: string | null }[];
};

describe.each(backends())("promotion on %s", (backend) => {
  let g: Gateway;
  let strategies: number;
  let draft: number;
  let skewed: number;
  let fair: number;
  const traffic: Call[] = [];

  const promote = (id: number, body: unknown) =>
    g.http
      .post(`/api/v1/experiments/${id}/promote`)
      .set("authorization", g.auth)
      .send(body as object);
  const champion = (system: string, agent: string) =>
    g.admin<AliasWithHistory>("GET", `/systems/${system}/agents/${agent}/aliases/champion`);
  const audit = (query: string) => g.admin<{ data: AuditEntry[] }>("GET", `/audit?${query}`);

  beforeAll(async () => {
    g = await startGateway(backend);
    // support: two agents, a system-scoped experiment between base (v1) and fine-tuned (v2).
    await seedSystem(g, "support", ["coordinator", "writer"]);
    strategies = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "all-ft",
        system: "support",
        arms: [
          { name: "control", weight: 1, versions: { coordinator: 1, writer: 1 } },
          { name: "ft", weight: 1, versions: { coordinator: 2, writer: 2 } },
        ],
      })
    ).id;
    await fixSalt(g, strategies, "promote-test-strategies");
    await g.admin("POST", `/experiments/${strategies}/start`);
    // A draft on the same agents (drafts may overlap; only running ones may not).
    draft = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "never-started",
        system: "support",
        agent: "writer",
        arms: [
          { name: "control", weight: 1, versions: { writer: 1 } },
          { name: "ft", weight: 1, versions: { writer: 2 } },
        ],
      })
    ).id;
    // ops: an agent-scoped experiment whose split will be skewed.
    await seedSystem(g, "ops", ["triage", "billing"]);
    skewed = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "triage-ft",
        system: "ops",
        agent: "triage",
        arms: [
          { name: "control", weight: 1, versions: { triage: 1 } },
          { name: "ft", weight: 1, versions: { triage: 2 } },
        ],
      })
    ).id;
    await fixSalt(g, skewed, "promote-test-skewed");
    await g.admin("POST", `/experiments/${skewed}/start`);
    // ops/billing: a fair split, promoted with a needless force.
    fair = (
      await g.admin<{ id: number }>("POST", "/experiments", {
        name: "billing-ft",
        system: "ops",
        agent: "billing",
        arms: [
          { name: "control", weight: 1, versions: { billing: 1 } },
          { name: "ft", weight: 1, versions: { billing: 2 } },
        ],
      })
    ).id;
    await fixSalt(g, fair, "promote-test-fair");
    await g.admin("POST", `/experiments/${fair}/start`);
    await routingSettled(g);

    const sessions = Array.from({ length: 24 }, (_, i) => `s-${i}`);
    await inPool(sessions, 8, async (s) => {
      for (const agent of ["coordinator", "writer"]) traffic.push(await chat(g, "support", agent, s, "hi"));
      for (const agent of ["triage", "billing"]) traffic.push(await chat(g, "ops", agent, s, "hi"));
    });
    await g.gw.recorder.flush();
  });
  afterAll(() => g?.close());

  it("refuses an unknown arm, an unknown experiment and a draft, changing nothing", async () => {
    await expectNoChange(g, async () => {
      expectError(await promote(strategies, { arm: "nope" }), 400, "invalid_request", {
        param: "arm",
        message: /no arm 'nope' \(arms: control, ft\)/,
      });
      expectError(await promote(999_999, { arm: "ft" }), 404, "experiment_not_found");
      expectError(await promote(draft, { arm: "ft" }), 409, "invalid_state", { message: /never ran/ });
      expectError(await promote(strategies, {}), 400, "invalid_request");
    });
    expect((await g.admin<{ status: string }>("GET", `/experiments/${draft}`)).status).toBe("draft");
    expect((await champion("support", "writer")).version).toBe(1);
  });

  it("moves the champion of every agent of the arm, concludes the experiment, and routing follows", async () => {
    // Before: calls of this experiment's control runs are served by v1 through the experiment.
    const controlRun = traffic.find((c) => c.arm === "control" && c.agent === "writer")?.session as string;
    expect(controlRun).toBeDefined();

    const res = await promote(strategies, { arm: "ft", reason: "ft wins on cost" });
    expect(res.status, res.text).toBe(200);
    const body = res.body as Promoted;
    expect(body).toMatchObject({ experiment: strategies, arm: "ft", forced: false });
    expect(body.champions).toEqual([
      { agent: "coordinator", from: 1, to: 2 },
      { agent: "writer", from: 1, to: 2 },
    ]);
    expect(body.srm_p as number).toBeGreaterThan(0.001);

    for (const agent of ["coordinator", "writer"]) {
      const alias = await champion("support", agent);
      expect(alias.version, agent).toBe(2);
      expect(alias.history[0]).toMatchObject({
        from_version: 1,
        to_version: 2,
        action: "promote",
        reason: "ft wins on cost",
      });
    }
    const moves = await audit("action=promote&object=support/");
    expect(
      moves.data
        .map((e) => ({ key: e.object_key, before: e.before, after: e.after, reason: e.reason }))
        .sort((a, b) => a.key.localeCompare(b.key)),
    ).toEqual(
      ["coordinator", "writer"].map((agent) => ({
        key: `support/${agent}`,
        before: { alias: "champion", version: 1 },
        after: { alias: "champion", version: 2 },
        reason: "ft wins on cost",
      })),
    );
    const concluded = await audit(`action=experiment.promote&object=${strategies}`);
    expect(concluded.data).toHaveLength(1);
    expect(concluded.data[0]?.actor).toBe("bootstrap-admin");
    expect(concluded.data[0]?.after).toMatchObject({
      status: "stopped",
      promoted_arm: "ft",
      forced: false,
      champions: body.champions,
    });

    const exp = await g.admin<{ status: string; ended_at: string | null; end_reason: string }>(
      "GET",
      `/experiments/${strategies}`,
    );
    expect(exp.status).toBe("stopped");
    expect(exp.ended_at).not.toBeNull();
    expect(exp.end_reason).toBe("promoted arm ft");
    const row = await g.gw.dbHandle.db("experiments").where({ id: strategies }).first("promoted_arm");
    expect(row.promoted_arm).toBe("ft");

    await routingSettled(g);
    for (const agent of ["coordinator", "writer"]) {
      const after = await chat(g, "support", agent, controlRun, "after promotion");
      expect(after, agent).toMatchObject({ route: "champion", version: 2, arm: null, status: 200 });
    }
  });

  it("refuses a second promotion", async () => {
    await expectNoChange(g, async () => {
      expectError(await promote(strategies, { arm: "control" }), 409, "invalid_state", {
        message: /already promoted arm 'ft'/,
      });
      expectError(await promote(strategies, { arm: "ft" }), 409, "invalid_state");
    });
    expect((await champion("support", "coordinator")).version).toBe(2);
  });

  it("refuses while the split is skewed (SRM), and promotes when forced, recording that it was", async () => {
    const report = await g.admin<{ srm: { flagged: boolean } }>("GET", `/experiments/${skewed}/report`);
    expect(report.srm.flagged).toBe(false);
    await insertSkew(g, { id: skewed, system: "ops", agent: "triage" }, "control", 120);

    await expectNoChange(g, async () => {
      expectError(await promote(skewed, { arm: "ft" }), 409, "srm_detected", {
        message:
          /^refusing to promote: sample ratio mismatch \(p = .+ < 0\.001; units \d+ vs \d+ for weights 0\.50\/0\.50\)\. .*force: true$/,
      });
    });
    expect((await champion("ops", "triage")).version).toBe(1);
    expect((await g.admin<{ status: string }>("GET", `/experiments/${skewed}`)).status).toBe("running");

    const res = await promote(skewed, { arm: "ft", force: true, reason: "SRM explained: bot traffic" });
    expect(res.status, res.text).toBe(200);
    const body = res.body as Promoted;
    expect(body.forced).toBe(true);
    expect(body.srm_p as number).toBeLessThan(0.001);
    expect(body.champions).toEqual([{ agent: "triage", from: 1, to: 2 }]);
    expect((await champion("ops", "triage")).history[0]).toMatchObject({
      action: "promote",
      reason: "SRM explained: bot traffic",
    });
    const entry = (await audit(`action=experiment.promote&object=${skewed}`)).data[0];
    expect(entry?.reason).toBe("SRM explained: bot traffic");
    expect(entry?.after).toMatchObject({ promoted_arm: "ft", forced: true, srm_p: body.srm_p });
    // Concluded: asking again is "already promoted", whatever the split.
    await expectNoChange(g, async () => {
      expectError(await promote(skewed, { arm: "control" }), 409, "invalid_state", {
        message: /already promoted arm 'ft'/,
      });
    });
  });

  it("records a promotion as forced only when force overrode a flagged check", async () => {
    const res = await promote(fair, { arm: "ft", force: true });
    expect(res.status, res.text).toBe(200);
    expect((res.body as Promoted).forced).toBe(false);
    expect((res.body as Promoted).srm_p as number).toBeGreaterThan(0.001);
    const entry = (await audit(`action=experiment.promote&object=${fair}`)).data[0];
    expect(entry?.after).toMatchObject({ promoted_arm: "ft", forced: false });
    expect(entry?.reason).toBe(`promoted from experiment ${fair} (billing-ft), arm ft`);
  });
});
