/** `agentgate systems create|list|show`: multi-agent systems. */
import { type Command, Option } from "commander";
import { type SystemView, TOPOLOGIES } from "../../registry/schemas.js";
import { type List, seg } from "../client.js";
import { context } from "../context.js";
import { emit, print, printFields, printTable } from "../output.js";

function showSystem(s: SystemView): void {
  printFields([
    ["name", s.name],
    ["topology", s.topology],
    ["description", s.description],
    ["agents", s.agents],
    ["created_at", s.created_at],
  ]);
}

export function registerSystems(program: Command): void {
  const systems = program.command("systems").description("multi-agent systems");

  systems
    .command("create")
    .description("create a system")
    .argument("<name>", "system name")
    .addOption(
      new Option("--topology <topology>", "how its agents interact")
        .choices(TOPOLOGIES)
        .makeOptionMandatory(),
    )
    .option("--description <text>", "free text")
    .action(async (name: string, opts: { topology: string; description?: string }, cmd: Command) => {
      const { api, json } = context(cmd);
      const created = await api.post<SystemView>("/systems", {
        name,
        topology: opts.topology,
        description: opts.description,
      });
      emit(json, created, (s) => {
        print(`Created system '${s.name}'.`);
        showSystem(s);
      });
    });

  systems
    .command("list")
    .description("list systems")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<SystemView>>("/systems");
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "NAME", value: (s) => s.name },
            { header: "TOPOLOGY", value: (s) => s.topology },
            { header: "AGENTS", value: (s) => s.agents },
            { header: "DESCRIPTION", value: (s) => s.description },
          ],
          "No systems.",
        ),
      );
    });

  systems
    .command("show")
    .description("show one system")
    .argument("<name>", "system name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      emit(json, await api.get<SystemView>(`/systems/${seg(name)}`), showSystem);
    });
}
