/** `agentgate audit`: who did what to which object, newest first. */
import type { Command } from "commander";
import type { AuditRecord } from "../../audit/audit.js";
import { context, positiveInt } from "../context.js";
import { usageError } from "../errors.js";
import { compact, emit, print, printTable } from "../output.js";

type AuditOptions = {
  object?: string;
  type?: string;
  actor?: string;
  action?: string;
  limit?: number;
  before?: number;
};
type AuditPage = { data: AuditRecord[]; next_before: number | null };

function change(e: AuditRecord): string | null {
  if (e.before === null && e.after === null) return null;
  if (e.before === null) return compact(e.after, 60);
  return `${compact(e.before, 40)} -> ${compact(e.after, 40)}`;
}

export function registerAudit(program: Command): void {
  program
    .command("audit")
    .description("read the audit log, newest first")
    .option("--object <key>", "object key, e.g. support/coordinator; a trailing / matches a prefix")
    .option("--type <type>", "object type: agent, system, upstream, token...")
    .option("--actor <name>", "token name that made the change")
    .option("--action <action>", "e.g. pin.set, rollback, alias.set")
    .option("--limit <n>", "at most this many entries (1-1000, default 100)", (raw: string) => {
      const n = positiveInt("--limit")(raw);
      if (n > 1000) throw usageError(`--limit must be at most 1000, got ${n}`);
      return n;
    })
    .option("--before <id>", "entries older than this id (paging)", positiveInt("--before"))
    .action(async (opts: AuditOptions, cmd: Command) => {
      const { api, json } = context(cmd);
      const page = await api.get<AuditPage>("/audit", {
        object: opts.object,
        object_type: opts.type,
        actor: opts.actor,
        action: opts.action,
        limit: opts.limit,
        before: opts.before,
      });
      emit(json, page, (p) => {
        printTable(
          p.data,
          [
            { header: "ID", value: (e) => e.id },
            { header: "AT", value: (e) => e.at },
            { header: "ACTOR", value: (e) => e.actor },
            { header: "ACTION", value: (e) => e.action },
            { header: "OBJECT", value: (e) => `${e.object_type}:${e.object_key}` },
            { header: "CHANGE", value: change },
            { header: "REASON", value: (e) => e.reason },
          ],
          "No audit entries match.",
        );
        if (p.next_before !== null) print(`(more: --before ${p.next_before})`);
      });
    });
}
