/**
 * `agentgate demo --exit` as a user runs it (the real CLI in a child process, a small run count),
 * then the database it left behind is opened by a fresh instance and inspected through the admin
 * API: the four systems with their agents and versions, the strategy experiments with events and
 * feedback in every arm, the guardian's rollback with its audit entry, and the pin — down to the
 * stored events of the pinned run's calls. On the embedded database and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startAgentgate } from "../../src/main.js";
import { killAll, runCli } from "../cli/cli.js";
import { backends, createPgDatabase, type TestDatabase } from "../helpers/databases.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";

const RUNS = 40;
const TOPOLOGIES: Record<string, { topology: string; agents: string[] }> = {
  research: { topology: "sequential", agents: ["planner", "researcher", "writer", "editor"] },
  support: { topology: "hierarchical", agents: ["coordinator", "billing", "shipping", "returns"] },
  debate: { topology: "collaborative", agents: ["debater_a", "debater_b", "debater_c", "consensus"] },
  reflect: { topology: "reflexive", agents: ["actor", "critic", "refiner"] },
};

type Experiment = {
  id: number;
  name: string;
  system: string;
  agent: string | null;
  status: string;
  end_reason: string | null;
  arms: { name: string; versions: Record<string, number> }[];
};
type Report = {
  arms: { name: string; units: number; calls: number }[];
  metrics: { name: string; arms: { arm: string; n: number }[] }[];
};

afterAll(() => killAll());

describe.each(backends())("agentgate demo --exit (%s)", (backend) => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("seeds the four topologies, runs the experiments, rolls back a bad arm and pins an agent", {
    timeout: 120_000,
  }, async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "agentgate-demo-test-"));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let database: TestDatabase | undefined;
    if (backend === "postgres") {
      database = await createPgDatabase();
      cleanup.push(() => database?.drop());
    }
    const args = ["demo", "--exit", "--port", "0", "--runs", String(RUNS), "--data-dir", dataDir];
    if (database) args.push("--database-url", database.url);
    const r = await runCli(args, { AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN }, { timeoutMs: 110_000 });
    expect(r.stderr, r.stdout.slice(-3000)).toBe("");
    expect(r.code).toBe(0);

    // Progress: one line per topology (not a TTY), then every report, then the scenes.
    for (const [system, t] of Object.entries(TOPOLOGIES))
      expect(r.stdout).toMatch(new RegExp(`^\\s+${t.topology}\\s+${system}\\s+${RUNS}/${RUNS} runs`, "m"));
    for (const system of Object.keys(TOPOLOGIES)) {
      expect(r.stdout).toMatch(
        new RegExp(`^Experiment \\d+ '${system}-strategies': system ${system}, unit session`, "m"),
      );
    }
    expect(r.stdout.match(/^SRM: /gm)).toHaveLength(4);
    expect(r.stdout.match(/^task_success \(higher\)\s+control/gm)).toHaveLength(4);
    expect(r.stdout).toMatch(/^ROI per_agent vs control \(per workflow run\)/m);
    expect(r.stdout).toMatch(/The guardian stopped experiment \d+ after \d+ runs/);
    expect(r.stdout).toMatch(/^Scripted part finished in \d+(\.\d)? s\.$/m);
    const pinnedIds = [...r.stdout.matchAll(/^coordinator\s+pinned\s+3\s+([0-9a-f-]{36})$/gm)].map(
      (m) => m[1],
    );
    expect(pinnedIds).toHaveLength(2);

    // The same database, opened by a fresh instance, through the admin API.
    const gw = await startAgentgate(
      loadConfig({
        PORT: "0",
        AGENTGATE_DATA_DIR: dataDir,
        AGENTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
        AGENTGATE_GUARDRAIL_INTERVAL_MS: "0",
        ...(database ? { DATABASE_URL: database.url } : {}),
      }),
      { logger: pino({ level: "silent" }) },
    );
    cleanup.push(() => gw.close());
    const get = async <T>(p: string): Promise<T> => {
      const res = await fetch(`${gw.url}/api/v1${p}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(res.status, p).toBe(200);
      return (await res.json()) as T;
    };

    const systems = await get<{ data: { name: string; topology: string }[] }>("/systems");
    expect(Object.fromEntries(systems.data.map((s) => [s.name, s.topology]))).toEqual(
      Object.fromEntries(Object.entries(TOPOLOGIES).map(([s, t]) => [s, t.topology])),
    );
    for (const [system, t] of Object.entries(TOPOLOGIES)) {
      const agents = await get<{ data: { name: string }[] }>(`/systems/${system}/agents`);
      expect(agents.data.map((a) => a.name).sort()).toEqual([...t.agents].sort());
      const globals = new Set<string>();
      for (const agent of t.agents) {
        const versions = await get<{ data: { version: number; kind: string; model: string }[] }>(
          `/systems/${system}/agents/${agent}/versions`,
        );
        const [v1, v2, v3] = versions.data.sort((a, b) => a.version - b.version);
        expect([v1?.kind, v2?.kind, v3?.kind]).toEqual(["base_optimized", "fine_tuned", "fine_tuned"]);
        expect(v2?.model).toContain(`${system}-${agent.replace(/_/g, "-")}`);
        globals.add(String(v3?.model));
      }
      // The global fine-tune is one model shared by every agent of the system.
      expect(globals.size).toBe(1);
    }

    const experiments = (await get<{ data: Experiment[] }>("/experiments")).data;
    for (const system of Object.keys(TOPOLOGIES)) {
      const e = experiments.find((x) => x.name === `${system}-strategies`);
      expect(e, system).toBeDefined();
      if (!e) continue;
      expect(e.agent).toBeNull();
      expect(e.arms.map((a) => a.name)).toEqual(["control", "per_agent", "global", "hybrid"]);
      expect(e.status).toBe("stopped");
      const report = await get<Report>(`/experiments/${e.id}/report`);
      const feedback = report.metrics.find((m) => m.name === "task_success");
      expect(report.arms.reduce((n, a) => n + a.units, 0)).toBe(RUNS);
      for (const arm of report.arms) {
        expect(arm.units, `${system} ${arm.name} units`).toBeGreaterThan(0);
        expect(arm.calls, `${system} ${arm.name} calls`).toBeGreaterThanOrEqual(arm.units * 3);
        expect(feedback?.arms.find((a) => a.arm === arm.name)?.n, `${system} ${arm.name} feedback`).toBe(
          arm.units,
        );
      }
    }

    const bad = experiments.find((x) => x.name === "billing-ft-v2");
    expect(bad).toMatchObject({ system: "support", agent: "billing", status: "stopped" });
    expect(bad?.end_reason).toMatch(/^guardrail breach: /);
    const rollbacks = await get<{ data: { actor: string; object_key: string }[] }>(
      "/audit?action=experiment.auto_rollback",
    );
    expect(rollbacks.data).toEqual([
      expect.objectContaining({ actor: "system:guardian", object_key: String(bad?.id) }),
    ]);

    // The pin: set and removed (audited), and the pinned run's calls stored as served by v3.
    const pins = await get<{ data: { action: string; object_key: string }[] }>(
      "/audit?object=support/coordinator",
    );
    expect(pins.data.map((a) => a.action)).toEqual(expect.arrayContaining(["pin.set", "pin.delete"]));
    expect((await get<{ pin: unknown }>("/systems/support/agents/coordinator")).pin).toBeNull();
    for (const id of pinnedIds) {
      const event = await get<{ route: string; served_version: number; agent: string }>(`/requests/${id}`);
      expect(event).toMatchObject({ route: "pinned", served_version: 3, agent: "coordinator" });
    }
  });
});
