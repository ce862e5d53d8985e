/**
 * The audit log: who (token name) did what to which object, with the state before and after and
 * the reason. Writers pass their transaction, so an entry exists exactly when the change does.
 */
import type { Knex } from "knex";

export type AuditEntry = {
  actor: string;
  action: string;
  objectType: string;
  objectKey: string;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
};

export type AuditRecord = {
  id: number;
  at: string;
  actor: string;
  action: string;
  object_type: string;
  object_key: string;
  before: unknown;
  after: unknown;
  reason: string | null;
};

export async function recordAudit(trx: Knex | Knex.Transaction, e: AuditEntry): Promise<void> {
  await trx("audit_log").insert({
    actor: e.actor,
    action: e.action,
    object_type: e.objectType,
    object_key: e.objectKey,
    before: e.before === undefined ? null : JSON.stringify(e.before),
    after: e.after === undefined ? null : JSON.stringify(e.after),
    reason: e.reason ?? null,
  });
}

export type AuditFilter = {
  objectType?: string;
  /** Exact key, or a prefix when it ends with `/` (e.g. `support/` for a whole system). */
  objectKey?: string;
  actor?: string;
  action?: string;
  /** Entries with an id below this (for paging backwards). */
  before?: number;
  limit: number;
};

export async function listAudit(db: Knex, f: AuditFilter): Promise<AuditRecord[]> {
  const q = db("audit_log").select("*").orderBy("id", "desc").limit(f.limit);
  if (f.objectType) q.where("object_type", f.objectType);
  if (f.objectKey) {
    if (f.objectKey.endsWith("/")) q.whereLike("object_key", `${f.objectKey.replace(/[\\%_]/g, "\\$&")}%`);
    else q.where("object_key", f.objectKey);
  }
  if (f.actor) q.where("actor", f.actor);
  if (f.action) q.where("action", f.action);
  if (f.before !== undefined) q.where("id", "<", f.before);
  const rows = await q;
  return rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
}
