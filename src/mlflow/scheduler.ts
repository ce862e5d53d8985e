/**
 * Optional periodic sync (AGENTGATE_MLFLOW_SYNC_INTERVAL_MS, off by default): both directions,
 * every agent, as the actor `mlflow-sync`. A failed or skipped run is logged and retried at the
 * next tick; one run at a time in this process, and the database lease keeps replicas apart.
 */
import type { Logger } from "pino";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import { Periodic } from "../periodic.js";
import type { SyncReport } from "./report.js";
import type { MlflowSyncService } from "./sync.js";

export const SCHEDULER_ACTOR: Actor = { name: "mlflow-sync", scopes: ["write"] };

export class MlflowSyncScheduler {
  private readonly job: Periodic<SyncReport | null>;

  constructor(
    private readonly sync: MlflowSyncService,
    private readonly log: Logger,
    opts: { intervalMs: number },
  ) {
    // syncOnce never throws: a failed sync is logged and answered null.
    this.job = new Periodic(() => this.syncOnce(), { intervalMs: opts.intervalMs, onError: () => {} });
  }

  start(): void {
    if (this.sync.configured) this.job.start();
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  /** One sync now (null when it failed or another sync held the lease). */
  run(): Promise<SyncReport | null> {
    return this.job.run();
  }

  private async syncOnce(): Promise<SyncReport | null> {
    try {
      const report = await this.sync.sync(SCHEDULER_ACTOR, { direction: "both", dry_run: false });
      const { summary } = report;
      if (summary.failed > 0) this.log.warn({ summary }, "periodic MLflow sync finished with failures");
      else this.log.info({ summary }, "periodic MLflow sync finished");
      return report;
    } catch (err) {
      const message = err instanceof AppError ? `${err.code}: ${err.message}` : String(err);
      this.log.warn({ err: message }, "periodic MLflow sync did not run; will retry");
      return null;
    }
  }
}
