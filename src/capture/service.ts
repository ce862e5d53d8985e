/**
 * Capture settings per agent: opt-in capture of calls, its byte cap, redaction and retention.
 * A change is audited in its transaction and notifies every replica, whose routing table then
 * carries the compiled policy to the proxy (no database read on the request path).
 */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { findAgent, iso } from "../registry/lookup.js";
import { agentRef } from "../registry/names.js";
import { type CaptureSet, type CaptureView, DEFAULT_MAX_BYTES, DEFAULT_RETENTION_DAYS } from "./policy.js";

type SettingsRow = {
  agent_id: number;
  enabled: boolean;
  max_bytes: number;
  redact_paths: string[];
  redact_patterns: string[];
  retention_days: number;
  updated_by: string;
  updated_at: Date;
};

type Q = Knex | Knex.Transaction;

/** The settings part of a view (what the audit log records before and after). */
const settingsOf = (v: CaptureView) => ({
  enabled: v.enabled,
  max_bytes: v.max_bytes,
  redact_paths: v.redact_paths,
  redact_patterns: v.redact_patterns,
  retention_days: v.retention_days,
});

export class CaptureService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async get(system: string, agent: string): Promise<CaptureView> {
    const a = await findAgent(this.db, system, agent);
    return this.present(this.db, system, agent, a.id);
  }

  async set(actor: Actor, system: string, agent: string, input: CaptureSet): Promise<CaptureView> {
    return this.db.transaction(async (trx) => {
      const a = await findAgent(trx, system, agent, { lock: true });
      const before = await this.present(trx, system, agent, a.id);
      const fields = {
        enabled: input.enabled,
        max_bytes: input.max_bytes,
        redact_paths: JSON.stringify(input.redact_paths),
        redact_patterns: JSON.stringify(input.redact_patterns),
        retention_days: input.retention_days,
        updated_by: actor.name,
        updated_at: trx.fn.now(),
      };
      await trx("capture_settings")
        .insert({ agent_id: a.id, ...fields })
        .onConflict("agent_id")
        .merge(Object.keys(fields));
      const after = await this.present(trx, system, agent, a.id);
      await recordAudit(trx, {
        actor: actor.name,
        action: "capture.set",
        objectType: "agent",
        objectKey: agentRef(system, agent),
        before: before.updated_by === null ? null : settingsOf(before),
        after: settingsOf(after),
        reason: input.reason ?? null,
      });
      await this.onChange(trx);
      return after;
    });
  }

  private async present(q: Q, system: string, agent: string, agentId: number): Promise<CaptureView> {
    const row: SettingsRow | undefined = await q("capture_settings").where({ agent_id: agentId }).first();
    const [count] = await q("captures").where({ agent_id: agentId }).count<{ n: number }[]>({ n: "*" });
    return {
      system,
      agent,
      enabled: row?.enabled ?? false,
      max_bytes: row?.max_bytes ?? DEFAULT_MAX_BYTES,
      redact_paths: row?.redact_paths ?? [],
      redact_patterns: row?.redact_patterns ?? [],
      retention_days: row?.retention_days ?? DEFAULT_RETENTION_DAYS,
      stored: Number(count?.n ?? 0),
      updated_by: row?.updated_by ?? null,
      updated_at: row ? iso(row.updated_at) : null,
    };
  }
}
