/**
 * `agentgate metrics` and `agentgate feedback` through the real CLI against a real server: declare
 * metrics, then send feedback for a call and for a workflow run made through the gateway.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFeedbackValue } from "../../src/cli/commands/feedback.js";
import { type Gateway, seedSystem, startGateway } from "../helpers/dataplane.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";
import { expectOk, expectOneLineError, json, killAll, runCli } from "./cli.js";

describe("agentgate metrics and feedback", () => {
  let g: Gateway;
  let env: Record<string, string>;
  let feedbackEnv: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  async function call(session?: string): Promise<string> {
    const { response } = await g
      .client()
      .chat.completions.create(
        { model: "agent:support/coordinator", messages: [{ role: "user", content: "hi" }] },
        session ? { headers: { "X-Session-Id": session } } : {},
      )
      .withResponse();
    return response.headers.get("x-agentgate-request-id") as string;
  }

  beforeAll(async () => {
    g = await startGateway("pglite");
    await seedSystem(g, "support", ["coordinator"]);
    const { token } = await g.admin<{ token: string }>("POST", "/tokens", {
      name: "agent-fb",
      scopes: ["feedback"],
    });
    env = { AGENTGATE_URL: g.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
    feedbackEnv = { AGENTGATE_URL: g.url, AGENTGATE_TOKEN: token };
  });
  afterAll(async () => {
    await killAll();
    await g?.close();
  });

  it("parses feedback values: true, false or a finite number", () => {
    expect(parseFeedbackValue("true")).toBe(true);
    expect(parseFeedbackValue("false")).toBe(false);
    expect(parseFeedbackValue("0.75")).toBe(0.75);
    expect(parseFeedbackValue("-2e3")).toBe(-2000);
    for (const bad of ["maybe", "", " ", "NaN", "Infinity", "TRUE", "1,5"]) {
      expect(() => parseFeedbackValue(bad), bad).toThrow(/--value must be true, false or a finite number/);
    }
  });

  it("declares metrics and lists them with the built-in ones", { timeout: 30_000 }, async () => {
    const [human, asJson] = await Promise.all([
      cli(
        "metrics",
        "create",
        "helpful",
        "--type",
        "boolean",
        "--direction",
        "higher",
        "--description",
        "was it",
      ),
      cli("--json", "metrics", "create", "score", "--type", "float", "--direction", "lower"),
    ]);
    expectOk(human);
    expect(human.stdout).toContain("Declared metric 'helpful'.");
    expect(human.stdout).toMatch(/^direction\s+higher is better$/m);
    expectOk(asJson);
    expect(json(asJson)).toMatchObject({ name: "score", type: "float", direction: "lower", built_in: false });

    const [list, dup, badType] = await Promise.all([
      cli("metrics", "list"),
      cli("metrics", "create", "helpful", "--type", "boolean", "--direction", "higher"),
      cli("metrics", "create", "x", "--type", "int", "--direction", "higher"),
    ]);
    expectOk(list);
    expect(list.stdout).toMatch(/^error_rate\s+boolean\s+lower\s+built-in/m);
    expect(list.stdout).toMatch(/^latency_p95_ms\s+float\s+lower\s+built-in/m);
    expect(list.stdout).toMatch(/^helpful\s+boolean\s+higher\s+declared\s+was it$/m);
    expect(list.stdout).toMatch(/^score\s+float\s+lower\s+declared/m);
    expect(expectOneLineError(dup, 1)).toContain("already_exists");
    expectOneLineError(badType, 2);
  });

  it("sends feedback for a call and for a workflow run, idempotently with --key", {
    timeout: 30_000,
  }, async () => {
    const id = await call();
    const session = `run-${randomUUID()}`;
    await call(session);
    const key = `cli-${randomUUID()}`;

    // Right after the call, with an agent's feedback-only token.
    const onCall = await runCli(
      ["--json", "feedback", id, "--metric", "helpful", "--value", "true"],
      feedbackEnv,
    );
    expectOk(onCall);
    expect(json(onCall)).toMatchObject({
      metric: "helpful",
      value: 1,
      request_id: id,
      session_id: null,
      level: "call",
      actor: "agent-fb",
    });

    const args = ["feedback", "--session", session, "--metric", "score", "--value", "-1.5"];
    const first = await cli(...args, "--comment", "too slow", "--key", key);
    expectOk(first);
    expect(first.stdout).toMatch(new RegExp(`^Feedback \\d+: score = -1.5 for session ${session}\\.$`, "m"));
    expect(first.stdout).toMatch(/^level\s+session$/m);
    expect(first.stdout).toMatch(/^comment\s+too slow$/m);
    const storedId = Number(/^Feedback (\d+):/m.exec(first.stdout)?.[1]);

    const [again, conflict] = await Promise.all([
      cli("--json", ...args, "--comment", "too slow", "--key", key),
      cli(...args, "--comment", "changed my mind", "--key", key),
    ]);
    expectOk(again);
    expect(json(again)).toMatchObject({ id: storedId, value: -1.5, comment: "too slow" });
    expect(expectOneLineError(conflict, 1)).toContain("(idempotency_conflict)");
    const rows = await g.gw.dbHandle.db("feedback").where({ idempotency_key: key });
    expect(rows).toHaveLength(1);
  });

  it("fails with one line: server refusals exit 1, malformed commands exit 2", {
    timeout: 30_000,
  }, async () => {
    const id = await call();
    const [undeclared, wrongType, unknownSession, neither, both, badValue, readOnly] = await Promise.all([
      cli("feedback", id, "--metric", "nope", "--value", "1"),
      cli("feedback", id, "--metric", "helpful", "--value", "0.5"),
      cli("feedback", "--session", `never-${randomUUID()}`, "--metric", "helpful", "--value", "false"),
      cli("feedback", "--metric", "helpful", "--value", "true"),
      cli("feedback", id, "--session", "s", "--metric", "helpful", "--value", "true"),
      cli("feedback", id, "--metric", "helpful", "--value", "yes"),
      runCli(["metrics", "list"], feedbackEnv),
    ]);
    expect(expectOneLineError(undeclared, 1)).toMatch(/metric 'nope' is not declared.*\(metric_not_found\)/);
    expect(expectOneLineError(wrongType, 1)).toMatch(/boolean: send true or false.*\(invalid_request\)/);
    expect(expectOneLineError(unknownSession, 1)).toContain("(session_not_found)");
    expect(expectOneLineError(neither, 2)).toContain("give either a request id or --session");
    expect(expectOneLineError(both, 2)).toContain("give either a request id or --session");
    expect(expectOneLineError(badValue, 2)).toContain("--value must be true, false or a finite number");
    expect(expectOneLineError(readOnly, 1)).toContain("(insufficient_scope)");
  });
});
