/**
 * Optional periodic sync (AGENTGATE_MLFLOW_SYNC_INTERVAL_MS, off by default): both directions,
 * every agent, as the actor `mlflow-sync`. A failed or skipped run is logged and retried at the
 * next tick; one run at a time in this process, and the database lease keeps replicas apart.
 */
import type { Logger } from "pino";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import type { SyncReport } from "./report.js";
import type { MlflowSyncService } from "./sync.js";

export const SCHEDULER_ACTOR: Actor = { name: "mlflow-sync", scopes: ["write"] };

export class MlflowSyncScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncReport | null> | undefined;

  constructor(
    private readonly sync: MlflowSyncService,
    private readonly log: Logger,
    private readonly opts: { intervalMs: number },
  ) {}

  start(): void {
    if (this.opts.intervalMs <= 0 || !this.sync.configured) return;
    this.timer = setInterval(() => void this.run(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One sync now (null when it failed or another sync held the lease). */
  run(): Promise<SyncReport | null> {
    this.running ??= this.sync
      .sync(SCHEDULER_ACTOR, { direction: "both", dry_run: false })
      .then((report) => {
        const { summary } = report;
        if (summary.failed > 0) this.log.warn({ summary }, "periodic MLflow sync finished with failures");
        else this.log.info({ summary }, "periodic MLflow sync finished");
        return report;
      })
      .catch((err) => {
        const message = err instanceof AppError ? `${err.code}: ${err.message}` : String(err);
        this.log.warn({ err: message }, "periodic MLflow sync did not run; will retry");
        return null;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
