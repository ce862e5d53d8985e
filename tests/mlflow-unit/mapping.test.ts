/**
 * The pure mapping between agentgate and MLflow's Model Registry (no server): names, sources,
 * tags, and which MLflow versions can be imported and as what.
 */
import { describe, expect, it } from "vitest";
import type { ModelVersion } from "../../src/mlflow/client.js";
import {
  changedTags,
  importDecision,
  parseRegisteredModelName,
  parseSource,
  registeredModelName,
  versionSource,
  versionTags,
} from "../../src/mlflow/mapping.js";
import type { VersionView } from "../../src/registry/schemas.js";

const UPSTREAMS = new Set(["openai", "vllm"]);
const mv = (over: Partial<ModelVersion> = {}): ModelVersion => ({
  name: "support.coordinator",
  version: "4",
  status: "READY",
  source: "s3://models/x",
  tags: [],
  aliases: [],
  ...over,
});
const tags = (t: Record<string, string>) => Object.entries(t).map(([key, value]) => ({ key, value }));

describe("names", () => {
  it("agent ↔ registered model system.agent, and back", () => {
    expect(registeredModelName("support", "coordinator")).toBe("support.coordinator");
    expect(parseRegisteredModelName("support.coordinator")).toEqual({
      system: "support",
      agent: "coordinator",
    });
    expect(parseRegisteredModelName("a.b.c")).toBeNull();
    expect(parseRegisteredModelName("Support.coordinator")).toBeNull();
    expect(parseRegisteredModelName("support")).toBeNull();
  });
});

describe("sources", () => {
  it("agentgate://<upstream>/<model>, parsed back", () => {
    for (const model of ["gpt-4o-mini", "ft:gpt-4o-mini:org::abc", "meta-llama/Llama-3.1-8B", "a b"]) {
      const source = versionSource("vllm", model);
      if (model === "a b") expect(source).toBe("agentgate://vllm/model");
      else expect(parseSource(source)).toEqual({ upstream: "vllm", model });
    }
  });

  it("model ids MLflow would refuse or alter as a path get a placeholder path", () => {
    for (const model of ["a/../b", "./x", "x/.", "x/", "q?x=1", "h#f", "100%", "a\\b", "nul\u0000"])
      expect(versionSource("up", model)).toBe("agentgate://up/model");
  });

  it("other sources are not ours", () => {
    expect(parseSource("s3://bucket/model")).toBeNull();
    expect(parseSource("agentgate://up/")).toBeNull();
    expect(parseSource("agentgate:///model")).toBeNull();
    expect(parseSource(undefined)).toBeNull();
    expect(parseSource("agentgate://up/a%20b")).toEqual({ upstream: "up", model: "a b" });
    expect(parseSource("agentgate://up/%E0%A4%A")).toBeNull();
  });
});

describe("tags", () => {
  const view: VersionView = {
    system: "support",
    agent: "coordinator",
    version: 3,
    kind: "fine_tuned",
    upstream: "vllm",
    model: "coord-lora",
    prompt: null,
    params: null,
    lineage: { parent_version: 1, base_model: "llama", dataset: "ds-1", other: "not mirrored" },
    training_cost_usd: 0,
    pricing: null,
    tags: {},
    aliases: [],
    pinned: false,
    created_by: "x",
    created_at: "2026-11-25T00:00:00.000Z",
  };

  it("describe the version: identity, kind, upstream, model, lineage fields, training cost", () => {
    expect(versionTags(view)).toEqual({
      "agentgate.system": "support",
      "agentgate.agent": "coordinator",
      "agentgate.version": "3",
      "agentgate.kind": "fine_tuned",
      "agentgate.upstream": "vllm",
      "agentgate.model": "coord-lora",
      "agentgate.parent_version": "1",
      "agentgate.base_model": "llama",
      "agentgate.dataset": "ds-1",
      "agentgate.training_cost_usd": "0",
    });
    expect(versionTags({ ...view, lineage: null, training_cost_usd: null })).not.toHaveProperty(
      "agentgate.training_cost_usd",
    );
  });

  it("changedTags lists missing and different keys only", () => {
    expect(changedTags({ a: "1", b: "2", c: "3" }, tags({ a: "1", b: "x", d: "4" }))).toEqual(["b", "c"]);
  });
});

describe("importDecision", () => {
  it("from tags: kind defaults to fine_tuned; lineage points back to MLflow; cost and parent parsed", () => {
    const d = importDecision(
      mv({
        run_id: "run-1",
        tags: tags({
          "agentgate.upstream": "vllm",
          "agentgate.model": "coord-lora-2",
          "agentgate.base_model": "llama",
          "agentgate.parent_version": "2",
          "agentgate.training_cost_usd": "4.5",
        }),
      }),
      UPSTREAMS,
    );
    expect(d).toEqual({
      ok: true,
      input: expect.objectContaining({
        kind: "fine_tuned",
        upstream: "vllm",
        model: "coord-lora-2",
        training_cost_usd: 4.5,
        lineage: {
          mlflow_model: "support.coordinator",
          mlflow_version: "4",
          mlflow_run: "run-1",
          base_model: "llama",
          parent_version: 2,
        },
      }),
    });
  });

  it("from an agentgate:// source; tags win over the source", () => {
    const fromSource = importDecision(mv({ source: "agentgate://openai/ft:gpt-4o-mini:o::1" }), UPSTREAMS);
    expect(fromSource).toMatchObject({
      ok: true,
      input: { upstream: "openai", model: "ft:gpt-4o-mini:o::1" },
    });
    const both = importDecision(
      mv({
        source: "agentgate://openai/a",
        tags: tags({ "agentgate.model": "b", "agentgate.kind": "base_optimized" }),
      }),
      UPSTREAMS,
    );
    expect(both).toMatchObject({
      ok: true,
      input: { upstream: "openai", model: "b", kind: "base_optimized" },
    });
  });

  it("skips with the reason", () => {
    const reason = (m: ModelVersion) => {
      const d = importDecision(m, UPSTREAMS);
      expect(d.ok).toBe(false);
      return d.ok ? "" : d.reason;
    };
    const base = { "agentgate.upstream": "vllm", "agentgate.model": "m" };
    expect(reason(mv())).toMatch(/neither which upstream nor which model/);
    expect(reason(mv({ tags: tags({ "agentgate.model": "m" }) }))).toMatch(/neither/);
    expect(reason(mv({ status: "PENDING_REGISTRATION", tags: tags(base) }))).toBe(
      "status is PENDING_REGISTRATION, not READY",
    );
    expect(reason(mv({ tags: tags({ ...base, "agentgate.upstream": "bedrock" }) }))).toBe(
      "upstream 'bedrock' is not registered in agentgate",
    );
    expect(reason(mv({ tags: tags({ ...base, "agentgate.kind": "lora" }) }))).toMatch(
      /agentgate.kind 'lora'/,
    );
    for (const cost of ["-1", "abc", "", "Infinity"])
      expect(reason(mv({ tags: tags({ ...base, "agentgate.training_cost_usd": cost }) }))).toMatch(
        /not a non-negative number/,
      );
    expect(reason(mv({ tags: tags({ ...base, "agentgate.parent_version": "0" }) }))).toMatch(
      /parent_version '0' is not a version number/,
    );
    expect(reason(mv({ tags: tags({ ...base, "agentgate.model": "x".repeat(513) }) }))).toMatch(/^model: /);
  });
});
