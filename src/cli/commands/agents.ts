/** `agentgate agents create|list|show`: the agents of a system, addressed as `system/agent`. */
import type { Command } from "commander";
import type { AgentView } from "../../registry/schemas.js";
import { type List, seg } from "../client.js";
import { context, parseAgentArg } from "../context.js";
import { usageError } from "../errors.js";
import { emit, pairs, print, printFields, printTable } from "../output.js";

export function describePin(pin: AgentView["pin"]): string | null {
  if (!pin) return null;
  return `version ${pin.version} by ${pin.by} at ${pin.at}${pin.reason ? ` (${pin.reason})` : ""}`;
}

function showAgent(a: AgentView): void {
  printFields([
    ["agent", `${a.system}/${a.name}`],
    ["role", a.role],
    ["description", a.description],
    ["champion", a.champion],
    ["aliases", pairs(a.aliases)],
    ["pin", describePin(a.pin)],
    ["versions", a.versions],
    ["latest_version", a.latest_version],
    ["created_at", a.created_at],
  ]);
}

export function registerAgents(program: Command): void {
  const agents = program.command("agents").description("the agents (roles) of a system");

  agents
    .command("create")
    .description("add an agent to a system")
    .argument("<system/agent>", "agent reference, e.g. support/coordinator")
    .option("--role <role>", "what the agent does")
    .option("--description <text>", "free text")
    .action(async (raw: string, opts: { role?: string; description?: string }, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      const created = await api.post<AgentView>(`/systems/${seg(ref.system)}/agents`, {
        name: ref.agent,
        role: opts.role,
        description: opts.description,
      });
      emit(json, created, (a) => {
        print(`Created agent '${a.system}/${a.name}'.`);
        showAgent(a);
      });
    });

  agents
    .command("list")
    .description("list a system's agents")
    .argument("<system>", "system name")
    .action(async (system: string, _opts: unknown, cmd: Command) => {
      if (system.includes("/")) throw usageError(`expected a system name, got '${system}'`);
      const { api, json } = context(cmd);
      const res = await api.get<List<AgentView>>(`/systems/${seg(system)}/agents`);
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "AGENT", value: (a) => `${a.system}/${a.name}` },
            { header: "ROLE", value: (a) => a.role },
            { header: "CHAMPION", value: (a) => a.champion },
            { header: "PIN", value: (a) => a.pin?.version },
            { header: "VERSIONS", value: (a) => a.versions },
            { header: "ALIASES", value: (a) => pairs(a.aliases) },
          ],
          `No agents in '${system}'.`,
        ),
      );
    });

  agents
    .command("show")
    .description("show an agent with its champion, aliases and pin")
    .argument("<system/agent>", "agent reference")
    .action(async (raw: string, _opts: unknown, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      emit(json, await api.get<AgentView>(ref.path), showAgent);
    });
}
