/**
 * `POST /api/v1/mlflow/sync`: mirrors agents, versions and aliases to an MLflow Model Registry
 * (push), imports versions registered there (pull), or both (pull first, so an imported version
 * gets its aliases in the same run). One sync at a time across replicas (a lease in the database);
 * a dry run reads only and takes no lease.
 *
 * Failures: MLflow unreachable, too slow, or refusing the credentials stops the sync with
 * 502/504 (what was done stays done; re-running converges). Any other MLflow error is confined to
 * the agent it happened on, reported as a `failed` item, and the sync goes on with the next agent.
 *
 * Each sync that is not a dry run is counted in `agentgate_mlflow_syncs_total{outcome}` (ok, partial:
 * some items failed, error: it stopped, busy: another sync held the lease) and its items in
 * `agentgate_mlflow_sync_items_total{action}`; a clean one sets
 * `agentgate_mlflow_last_success_timestamp_seconds`.
 */
import { randomUUID } from "node:crypto";
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import type { VersionService } from "../registry/versions.js";
import type { MlflowClient } from "./client.js";
import { describeObjectError, isObjectError, MlflowApiError, MlflowUnavailableError } from "./errors.js";
import { pullAgent } from "./pull.js";
import { pushAgent, type SyncContext } from "./push.js";
import { type LinkView, ReportBuilder, type SyncReport, type SyncRequest } from "./report.js";
import { acquireLease, agentsInScope, listLinks, releaseLease, upstreamNames } from "./store.js";

export class MlflowSyncService {
  constructor(
    private readonly db: Knex,
    private readonly versions: VersionService,
    /** Null when MLFLOW_TRACKING_URI is not set. */
    private readonly client: MlflowClient | null,
    private readonly metrics?: Metrics,
  ) {}

  /** The links agentgate keeps (readable with MLflow down or not configured). */
  links(scope: { system?: string; agent?: string }): Promise<LinkView[]> {
    return listLinks(this.db, scope);
  }

  get configured(): boolean {
    return this.client !== null;
  }

  async sync(actor: Actor, req: SyncRequest): Promise<SyncReport> {
    let report: SyncReport;
    try {
      report = await this.run(actor, req);
    } catch (err) {
      if (!req.dry_run && this.client) {
        const busy = err instanceof AppError && err.code === "mlflow_sync_running";
        this.metrics?.mlflowSyncsTotal.inc({ outcome: busy ? "busy" : "error" });
      }
      throw err;
    }
    if (!req.dry_run && this.metrics) {
      const m = this.metrics;
      for (const [action, n] of Object.entries(report.summary))
        if (n > 0) m.mlflowSyncItemsTotal.inc({ action }, n);
      m.mlflowSyncsTotal.inc({ outcome: report.summary.failed > 0 ? "partial" : "ok" });
      if (report.summary.failed === 0) m.mlflowLastSuccess.set(Date.parse(report.finished_at) / 1000);
    }
    return report;
  }

  private async run(actor: Actor, req: SyncRequest): Promise<SyncReport> {
    const client = this.client;
    if (!client)
      throw new AppError(
        "mlflow_not_configured",
        "MLflow is not configured: set MLFLOW_TRACKING_URI on the server",
      );
    const agents = await agentsInScope(this.db, req);
    const holder = `${actor.name}:${randomUUID()}`;
    if (!req.dry_run && !(await acquireLease(this.db, holder)))
      throw new AppError(
        "mlflow_sync_running",
        "another MLflow sync is running; try again when it has finished",
      );
    const startedAt = new Date();
    const report = new ReportBuilder();
    const ctx: SyncContext = { db: this.db, client, versions: this.versions, dryRun: req.dry_run, report };
    try {
      const upstreams = await upstreamNames(this.db);
      for (const a of agents) {
        try {
          if (req.direction !== "push") await pullAgent(ctx, actor, a, upstreams);
          if (req.direction !== "pull") await pushAgent(ctx, a);
        } catch (err) {
          // Unreachable, timeout, refused credentials: every agent would fail the same way.
          if (!isObjectError(err)) throw err;
          const detail = describeObjectError(err);
          report.add({
            object: "registered_model",
            action: "failed",
            agent: a.ref,
            mlflow_model: a.model,
            detail,
          });
        }
      }
    } catch (err) {
      throw asAppError(err, client.uri);
    } finally {
      if (!req.dry_run) await releaseLease(this.db, holder);
    }
    const result: SyncReport = {
      direction: req.direction,
      dry_run: req.dry_run,
      mlflow_uri: client.uri,
      agents: agents.length,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      summary: report.summary(),
      items: report.items,
    };
    if (!req.dry_run) {
      await recordAudit(this.db, {
        actor: actor.name,
        action: "mlflow.sync",
        objectType: "mlflow",
        objectKey: req.agent ? `${req.system}/${req.agent}` : req.system ? `${req.system}/` : "*",
        after: {
          direction: req.direction,
          mlflow_uri: client.uri,
          agents: agents.length,
          summary: result.summary,
        },
      });
    }
    return result;
  }
}

function asAppError(err: unknown, uri: string): unknown {
  if (err instanceof MlflowUnavailableError)
    return new AppError(err.reason === "timeout" ? "mlflow_timeout" : "mlflow_unavailable", err.message);
  if (err instanceof MlflowApiError && err.unauthorized)
    return new AppError(
      "mlflow_unavailable",
      `MLflow at ${uri} refused the credentials (${err.errorCode}: ${err.message})`,
    );
  return err;
}
