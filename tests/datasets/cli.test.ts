/**
 * `agentgate capture` and `agentgate datasets` through the real CLI against a real server: turn
 * capture on with redaction, make traffic through the gateway, export (the files are written and
 * match their SHA-256), list, show, download; errors are one line.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk, expectOneLineError, json, killAll, runCli } from "../cli/cli.js";
import {
  eventsFlushed,
  type Gateway,
  routingSettled,
  seedSystem,
  startGateway,
} from "../helpers/dataplane.js";
import { ADMIN_TOKEN } from "../helpers/instance.js";

type Written = { file: string; sha256: string; bytes: number };
type Exported = {
  id: number;
  examples: number;
  content_sha256: string;
  files: { agent: string; sha256: string }[];
  written: Written[];
};

describe("agentgate capture and datasets", () => {
  let g: Gateway;
  let env: Record<string, string>;
  let dir: string;
  const cli = (...args: string[]) => runCli(args, env);
  const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

  beforeAll(async () => {
    g = await startGateway("pglite", { AGENTGATE_CAPTURE_CLEANUP_MS: "0" });
    await seedSystem(g, "ops", ["triage", "summarize"]);
    env = { AGENTGATE_URL: g.url, AGENTGATE_TOKEN: ADMIN_TOKEN };
    dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-datasets-cli-"));
  });
  afterAll(async () => {
    await killAll();
    await g?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns capture on with redaction and retention, shows it, refuses bad input in one line", async () => {
    const [on, other] = await Promise.all([
      cli(
        "capture",
        "ops/triage",
        "--on",
        "--retention-days",
        "14",
        "--redact-pattern",
        "\\d{3}-\\d{4}",
        "--redact-path",
        "messages[*].name",
        "--reason",
        "dataset for v2",
      ),
      cli("--json", "capture", "ops/summarize", "--on"),
    ]);
    expectOk(on);
    expect(on.stdout).toMatch(/^ops\/triage: capture on$/m);
    expect(on.stdout).toMatch(/^retention_days\s+14$/m);
    expect(on.stdout).toMatch(/^redact_patterns\s+\\d\{3\}-\\d\{4\}$/m);
    expectOk(other);
    expect(json(other)).toMatchObject({
      enabled: true,
      max_bytes: 262144,
      retention_days: 30,
      redact_paths: [],
    });

    // Only what is given changes.
    const bytes = await cli("--json", "capture", "ops/triage", "--max-bytes", "65536");
    expectOk(bytes);
    expect(json(bytes)).toMatchObject({
      enabled: true,
      max_bytes: 65536,
      retention_days: 14,
      redact_patterns: ["\\d{3}-\\d{4}"],
      redact_paths: ["messages[*].name"],
    });

    const [both, catastrophic, show] = await Promise.all([
      cli("capture", "ops/triage", "--on", "--off"),
      cli("capture", "ops/triage", "--redact-pattern", "(a+)+"),
      cli("capture", "ops/triage"),
    ]);
    expect(expectOneLineError(both, 2)).toMatch(/--on or --off, not both/);
    expect(expectOneLineError(catastrophic, 1)).toMatch(
      /redact_patterns\.0: .*catastrophically \(invalid_request\)/,
    );
    expectOk(show);
    expect(show.stdout).toMatch(/^capture\s+on$/m);
    expect(show.stdout).toMatch(/^max_bytes\s+65536$/m);
  });

  it("exports a dataset to a file whose SHA-256 is the dataset's; per-agent exports write one file per agent", async () => {
    await routingSettled(g);
    const client = g.client();
    for (let i = 0; i < 12; i++) {
      for (const agent of ["triage", "summarize"]) {
        await client.chat.completions.create(
          { model: "x", messages: [{ role: "user", content: `${agent} ticket ${i} call 555-0${100 + i}` }] },
          { headers: { "X-Agent": `ops/${agent}` } },
        );
      }
    }
    await eventsFlushed(g);

    const out = path.join(dir, "triage.jsonl");
    const single = await cli(
      "--json",
      "datasets",
      "export",
      "--name",
      "triage-v1",
      "--agent",
      "ops/triage",
      "--out",
      out,
    );
    expectOk(single);
    const d = json<Exported>(single);
    expect(d.examples).toBe(12);
    expect(d.written).toEqual([{ file: out, sha256: d.content_sha256, bytes: readFileSync(out).length }]);
    expect(sha(out)).toBe(d.content_sha256);
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(12);
    for (const l of lines)
      expect(JSON.parse(l).messages.at(-1)).toMatchObject({ role: "assistant", weight: 1 });
    expect(lines.join("\n")).toContain("[REDACTED]");
    expect(lines.join("\n")).not.toMatch(/555-0\d{3}/);

    const both = path.join(dir, "both");
    const multi = await cli(
      "datasets",
      "export",
      "--name",
      "ops-trl",
      "--agent",
      "ops/triage",
      "--agent",
      "ops/summarize",
      "--format",
      "trl",
      "--cap",
      "10",
      "--out",
      both,
    );
    expectOk(multi);
    expect(multi.stdout).toMatch(/^Dataset \d+ 'ops-trl': 20 examples of 24 captured calls\.$/m);
    expect(multi.stdout).toMatch(/^dropped\s+over_cap 4$/m);
    expect(readdirSync(both).sort()).toEqual(["ops.summarize.jsonl", "ops.triage.jsonl"]);
    const summarize = readFileSync(path.join(both, "ops.summarize.jsonl"), "utf8").trimEnd().split("\n");
    expect(summarize).toHaveLength(10);
    expect(Object.keys(JSON.parse(summarize[0] as string))).toEqual(["prompt", "completion"]);
    // The summarize agent captured without redaction.
    expect(summarize.join("\n")).toMatch(/555-0\d{3}/);
  });

  it("lists, shows and downloads datasets; a dataset with too few examples fails in one line", async () => {
    const [list, show, tooFew, badTime] = await Promise.all([
      cli("--json", "datasets", "list"),
      cli("datasets", "show", "1"),
      cli(
        "datasets",
        "export",
        "--name",
        "future",
        "--agent",
        "ops/triage",
        "--since",
        "2999-01-01T00:00:00Z",
      ),
      cli("datasets", "export", "--name", "t", "--agent", "ops/triage", "--since", "yesterday"),
    ]);
    expectOk(list);
    const names = json<{ data: { name: string }[] }>(list).data.map((d) => d.name);
    expect(names).toEqual(["ops-trl", "triage-v1"]);
    expectOk(show);
    expect(show.stdout).toMatch(/^name\s+triage-v1$/m);
    expect(show.stdout).toMatch(/^examples\s+12$/m);
    expect(show.stdout).toMatch(/^FILE\s+EXAMPLES/m);
    expect(expectOneLineError(tooFew, 1)).toMatch(
      /ops\/triage has 0 valid examples of 0 captured calls .*\(insufficient_examples\)/,
    );
    expect(expectOneLineError(badTime, 2)).toMatch(/--since must be an ISO 8601 date-time/);

    const file = path.join(dir, "again.jsonl");
    const dl = await cli("datasets", "download", "2", "--agent", "ops/summarize", "--out", file);
    expectOk(dl);
    expect(readFileSync(file, "utf8")).toBe(
      readFileSync(path.join(dir, "both", "ops.summarize.jsonl"), "utf8"),
    );
    expect(dl.stdout).toContain(`sha256 ${sha(file)}`);
  });
});
