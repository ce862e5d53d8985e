/**
 * Retention of captures: a background job deletes the captures older than their agent's
 * `retention_days` (30 days for an agent whose settings row is gone). Turning capture off keeps
 * what was captured until it expires.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { Periodic } from "../periodic.js";
import { DEFAULT_RETENTION_DAYS } from "./policy.js";

export class CaptureCleaner {
  private readonly job: Periodic<number>;

  constructor(
    private readonly db: Knex,
    private readonly log: Logger,
    opts: { intervalMs: number },
  ) {
    this.job = new Periodic(() => this.deleteExpired(), {
      intervalMs: opts.intervalMs,
      onError: (err) => log.warn({ err: String(err) }, "capture cleanup failed; will retry"),
    });
  }

  start(): void {
    this.job.start();
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  /** Deletes every expired capture now; returns how many. One run at a time. */
  run(): Promise<number> {
    return this.job.run();
  }

  private async deleteExpired(): Promise<number> {
    const deleted = await this.db("captures as c")
      .whereRaw(
        `c.at < now() - make_interval(days => coalesce(
           (select s.retention_days from capture_settings s where s.agent_id = c.agent_id), ?))`,
        [DEFAULT_RETENTION_DAYS],
      )
      .delete(["request_id"]);
    const n = deleted.length;
    if (n > 0) this.log.info({ deleted: n }, "expired captures deleted");
    return n;
  }
}
