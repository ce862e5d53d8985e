/**
 * Retention of captures: a background job deletes the captures older than their agent's
 * `retention_days` (30 days for an agent whose settings row is gone). Turning capture off keeps
 * what was captured until it expires.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { DEFAULT_RETENTION_DAYS } from "./policy.js";

export class CaptureCleaner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly db: Knex,
    private readonly log: Logger,
    private readonly opts: { intervalMs: number },
  ) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.run().catch((err) => this.log.warn({ err: String(err) }, "capture cleanup failed; will retry"));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** Deletes every expired capture now; returns how many. One run at a time. */
  run(): Promise<number> {
    this.running ??= this.deleteExpired().finally(() => {
      this.running = undefined;
    });
    return this.running;
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
