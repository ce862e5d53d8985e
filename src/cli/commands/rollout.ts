/**
 * The on-call controls: `alias`, `pin`, `unpin`, `rollback`. Each prints one line saying what
 * changed, so a terminal log of an incident reads as a timeline.
 */
import type { Command } from "commander";
import type { PinView } from "../../registry/pins.js";
import type { AliasHistoryEntry, AliasView, RollbackResult } from "../../registry/schemas.js";
import { seg } from "../client.js";
import { context, parseAgentArg, positiveInt } from "../context.js";
import { usageError } from "../errors.js";
import { emit, print, printTable } from "../output.js";

type Reason = { reason?: string };
type AliasOptions = Reason & { delete?: boolean };

const orNone = (v: number | null | undefined) => (v === null || v === undefined ? "none" : String(v));

async function alias(
  raw: string,
  name: string,
  version: number | undefined,
  opts: AliasOptions,
  cmd: Command,
) {
  const ref = parseAgentArg(raw);
  if (version !== undefined && opts.delete) {
    throw usageError("give either a version (to move the alias) or --delete, not both");
  }
  const { api, json } = context(cmd);
  const path = `${ref.path}/aliases/${seg(name)}`;

  if (version !== undefined) {
    const moved = await api.put<AliasView>(path, { version, reason: opts.reason });
    emit(json, moved, (a) => print(`${ref.ref}: alias ${a.alias} -> version ${a.version}`));
    return;
  }
  if (opts.delete) {
    await api.delete<undefined>(path, { reason: opts.reason });
    // The API answers 204; scripts still get an object describing what happened.
    emit(json, { system: ref.system, agent: ref.agent, alias: name, deleted: true }, () =>
      print(`${ref.ref}: alias ${name} removed`),
    );
    return;
  }
  const view = await api.get<AliasView & { history: AliasHistoryEntry[] }>(path);
  emit(json, view, (a) => {
    print(`${ref.ref}: alias ${a.alias} -> version ${a.version} (set by ${a.updated_by} at ${a.updated_at})`);
    print();
    printTable(
      a.history,
      [
        { header: "AT", value: (h) => h.at },
        { header: "ACTION", value: (h) => h.action },
        { header: "FROM", value: (h) => h.from_version },
        { header: "TO", value: (h) => h.to_version },
        { header: "ACTOR", value: (h) => h.actor },
        { header: "REASON", value: (h) => h.reason },
      ],
      "No history.",
    );
  });
}

export function registerRollout(program: Command): void {
  program
    .command("alias")
    .description("show an alias and its history, point it at a version, or remove it")
    .argument("<system/agent>", "agent reference")
    .argument("<alias>", "alias name, e.g. champion")
    .argument("[version]", "version to point the alias at", positiveInt("version"))
    .option("--reason <text>", "why; kept in the alias history and the audit log")
    .option("--delete", "remove the alias (champion cannot be removed, only moved)")
    .action(alias);

  program
    .command("pin")
    .description("send 100% of an agent's traffic to one version, above any experiment")
    .argument("<system/agent>", "agent reference")
    .argument("<version>", "version to pin", positiveInt("version"))
    .option("--reason <text>", "why; kept in the audit log")
    .action(async (raw: string, version: number, opts: Reason, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      const pinned = await api.put<PinView>(`${ref.path}/pin`, { version, reason: opts.reason });
      emit(json, pinned, (p) => print(`${ref.ref}: pinned to version ${p.version}`));
    });

  program
    .command("unpin")
    .description("remove an agent's pin; traffic follows experiments and champion again")
    .argument("<system/agent>", "agent reference")
    .option("--reason <text>", "why; kept in the audit log")
    .action(async (raw: string, opts: Reason, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      await api.delete<undefined>(`${ref.path}/pin`, { reason: opts.reason });
      emit(json, { system: ref.system, agent: ref.agent, pin: null }, () => print(`${ref.ref}: unpinned`));
    });

  program
    .command("rollback")
    .description("move champion (and any pin) back to the previous good version, or to --to N")
    .argument("<system/agent>", "agent reference")
    .option("--to <n>", "version to roll back to", positiveInt("--to"))
    .option("--reason <text>", "why; kept in the alias history and the audit log")
    .action(async (raw: string, opts: Reason & { to?: number }, cmd: Command) => {
      const ref = parseAgentArg(raw);
      const { api, json } = context(cmd);
      const res = await api.post<RollbackResult>(`${ref.path}/rollback`, {
        version: opts.to,
        reason: opts.reason,
      });
      emit(json, res, (r) =>
        print(
          `${ref.ref}: champion ${orNone(r.previous)} -> ${r.version}${r.pinned ? " (pin moved too)" : ""}`,
        ),
      );
    });
}
