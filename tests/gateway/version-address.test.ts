/** Naming the agent (and a version) of a call: header, `agent:` and `openai/agent:` models, `@n`. */
import { describe, expect, it } from "vitest";
import { agentOf } from "../../src/gateway/resolve.js";
import { versionAddress } from "../../src/gateway/version-address.js";

describe("agentOf and version addresses", () => {
  it("takes the header, else the agent: model (also with LiteLLM's openai/ prefix)", () => {
    expect(agentOf("support/writer", "gpt-4o")).toBe("support/writer");
    expect(agentOf(undefined, "agent:support/writer")).toBe("support/writer");
    expect(agentOf(undefined, "openai/agent:support/writer")).toBe("support/writer");
    expect(agentOf("  ", "agent:support/writer")).toBe("support/writer");
    expect(agentOf(undefined, "gpt-4o")).toBeNull();
    expect(agentOf(undefined, "openai/gpt-4o")).toBeNull();
    // The header wins over a plain agent model...
    expect(agentOf("support/critic", "agent:support/writer")).toBe("support/critic");
    // ...but a model naming a version is more specific.
    expect(agentOf("support/writer", "openai/agent:support/writer@4")).toBe("support/writer@4");
  });

  it("parses system/agent@n, and nothing else", () => {
    expect(versionAddress("support/writer@4")).toEqual({ ref: "support/writer", version: 4 });
    expect(versionAddress("support/writer@12345")).toEqual({ ref: "support/writer", version: 12345 });
    for (const bad of [
      "support/writer",
      "support/writer@",
      "support/writer@0",
      "support/writer@x",
      "support/writer@-1",
      "@3",
    ])
      expect(versionAddress(bad), bad).toBeNull();
  });
});
