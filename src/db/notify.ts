/**
 * "Routing config changed" notifications. Mutations that change routing call `notifyConfigChanged`
 * inside their transaction: PostgreSQL (and PGlite) deliver a NOTIFY only when the transaction
 * commits, so listeners never see a change that was rolled back.
 *
 * Notifications arrive asynchronously, even on the replica that made the change. So that the
 * client of an admin write can use what it just wrote (a new proxy key, a pin) on the replica
 * that answered, the admin API compares `ConfigChanges.notified` before and after each operation
 * and, when it moved, rebuilds that replica's routing table before answering.
 */
import type { Knex } from "knex";
import pg from "pg";
import type { DbHandle } from "./knex.js";

export const CONFIG_CHANNEL = "agentgate_config";

export async function notifyConfigChanged(trx: Knex | Knex.Transaction): Promise<void> {
  await trx.raw("select pg_notify(?, ?)", [CONFIG_CHANNEL, String(Date.now())]);
}

/**
 * One instance's notifier, counting what it notified. A counter rather than a per-request
 * context: AsyncLocalStorage would put a promise hook on every data-plane call on Node 20 (~1.8 KB
 * and ~5 µs a call in the bench). An operation that saw the count move while it ran either
 * notified or ran beside one that did; the second case costs only a needless rebuild.
 */
export class ConfigChanges {
  notified = 0;
  readonly notify = async (trx: Knex.Transaction): Promise<void> => {
    this.notified++;
    await notifyConfigChanged(trx);
  };
}

export type ListenHandle = { close(): Promise<void> };

/**
 * Calls `onNotify` for every config-changed notification, and `onReconnect` after the listening
 * connection was re-established (notifications sent while it was down are lost, so the caller
 * should reload). PostgreSQL uses a dedicated connection outside the knex pool; PGlite delivers
 * notifications in-process.
 */
export async function listenConfigChanges(
  handle: DbHandle,
  databaseUrl: string | undefined,
  onNotify: () => void,
  onReconnect: () => void,
  onError: (err: unknown) => void,
): Promise<ListenHandle> {
  if (handle.pglite) {
    const unsubscribe = await handle.pglite.listen(CONFIG_CHANNEL, onNotify);
    return { close: () => unsubscribe() };
  }
  if (!databaseUrl) throw new Error("listenConfigChanges: PostgreSQL needs a database URL");
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoff = 100;

  const connect = async (isReconnect: boolean) => {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: "agentgate-listen" });
    c.on("notification", (msg) => {
      if (msg.channel === CONFIG_CHANNEL) onNotify();
    });
    c.on("error", (err) => {
      onError(err);
      scheduleReconnect();
    });
    c.on("end", () => scheduleReconnect());
    try {
      await c.connect();
      await c.query(`LISTEN ${CONFIG_CHANNEL}`);
    } catch (err) {
      c.removeAllListeners("end");
      await c.end().catch(() => {});
      throw err;
    }
    client = c;
    backoff = 100;
    if (isReconnect) onReconnect();
  };

  const scheduleReconnect = () => {
    if (closed || retry) return;
    client = undefined;
    retry = setTimeout(async () => {
      retry = undefined;
      try {
        await connect(true);
      } catch (err) {
        onError(err);
        backoff = Math.min(backoff * 2, 5_000);
        scheduleReconnect();
      }
    }, backoff);
    retry.unref();
  };

  await connect(false);
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners("end");
        await c.end().catch(() => {});
      }
    },
  };
}
