/**
 * "Routing config changed" notifications. Mutations that change routing call `notifyConfigChanged`
 * inside their transaction: PostgreSQL (and PGlite) deliver a NOTIFY only when the transaction
 * commits, so listeners never see a change that was rolled back.
 */
import type { Knex } from "knex";

export const CONFIG_CHANNEL = "agentgate_config";

export async function notifyConfigChanged(trx: Knex | Knex.Transaction): Promise<void> {
  await trx.raw("select pg_notify(?, ?)", [CONFIG_CHANNEL, String(Date.now())]);
}
