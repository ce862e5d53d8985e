/**
 * The Express application: health and readiness, the OpenAPI document and the admin API. It is
 * assembled from already-built services and has no side effects of its own.
 */
import express, { Router } from "express";
import type { Logger } from "pino";
import { auditRoutes } from "../audit/routes.js";
import { tokenRoutes } from "../auth/routes.js";
import type { TokenService } from "../auth/tokens.js";
import { captureRoutes } from "../capture/routes.js";
import type { CaptureService } from "../capture/service.js";
import { datasetRoutes } from "../datasets/routes.js";
import type { DatasetService } from "../datasets/service.js";
import type { Db } from "../db/knex.js";
import type { EventRecorder } from "../events/recorder.js";
import { eventRoutes } from "../events/routes.js";
import type { FeedbackService } from "../experiments/feedback.js";
import { feedbackRoutes } from "../experiments/feedback-routes.js";
import { metricRoutes } from "../experiments/metric-routes.js";
import type { MetricService } from "../experiments/metrics.js";
import type { PromotionService } from "../experiments/promote.js";
import { decisionRoutes } from "../experiments/report/routes.js";
import { experimentRoutes } from "../experiments/routes.js";
import type { ExperimentService } from "../experiments/service.js";
import { fineTuneRoutes } from "../finetune/routes.js";
import type { FineTuneService } from "../finetune/service.js";
import type { Metrics } from "../metrics.js";
import { mlflowRoutes } from "../mlflow/routes.js";
import type { MlflowSyncService } from "../mlflow/sync.js";
import { type RegistryServices, registryRoutes } from "../registry/routes.js";
import { makeAuthenticator } from "./auth.js";
import { errorMiddleware, notFoundHandler } from "./errors.js";
import { buildOpenApi } from "./openapi.js";
import { type ConfigChangeHooks, type MountedRoute, mountRoutes } from "./route.js";

export const API_PREFIX = "/api/v1";
const ADMIN_BODY_LIMIT = "1mb";

export type AppDeps = {
  db: Db;
  log: Logger;
  tokens: TokenService;
  registry: RegistryServices;
  experiments: ExperimentService;
  promotion: PromotionService;
  /** Declared and built-in metrics (`metrics` is the Prometheus catalog). */
  metricDefs: MetricService;
  feedback: FeedbackService;
  /** Lets `GET /requests/{id}` write a call's event at once if it is still queued here. */
  recorder?: Pick<EventRecorder, "settle">;
  /** Per-agent capture settings, and datasets built from the captures. */
  capture: CaptureService;
  datasets: DatasetService;
  fineTunes: FineTuneService;
  /** Mirroring to an MLflow Model Registry (answers 409 mlflow_not_configured when not configured). */
  mlflow: MlflowSyncService;
  metrics: Metrics;
  version: string;
  /** Lets an admin write that changed routing answer only once this replica's table has it. */
  configChanges: ConfigChangeHooks;
  /** Extra readiness checks (e.g. the routing table is loaded); the DB check is built in. */
  readinessChecks?: Record<string, () => boolean>;
};

export type HttpApp = { app: express.Express; routes: MountedRoute[]; openapi: Record<string, unknown> };

export function createHttpApp(deps: AppDeps): HttpApp {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const checks: Record<string, boolean> = {};
    try {
      await deps.db.raw("select 1");
      checks.database = true;
    } catch {
      checks.database = false;
    }
    for (const [name, check] of Object.entries(deps.readinessChecks ?? {})) checks[name] = check();
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks });
  });

  const api = Router();
  const routes = mountRoutes(
    api,
    API_PREFIX,
    [
      ...registryRoutes(deps.registry),
      ...experimentRoutes(deps.experiments),
      ...decisionRoutes(deps.db, deps.experiments, deps.promotion),
      ...metricRoutes(deps.metricDefs),
      ...feedbackRoutes(deps.feedback),
      ...eventRoutes(deps.db, deps.recorder),
      ...captureRoutes(deps.capture),
      ...datasetRoutes(deps.datasets),
      ...fineTuneRoutes(deps.fineTunes),
      ...mlflowRoutes(deps.mlflow),
      ...tokenRoutes(deps.tokens),
      ...auditRoutes(deps.db),
    ],
    makeAuthenticator(deps.tokens),
    express.json({ limit: ADMIN_BODY_LIMIT, strict: false }),
    deps.configChanges,
  );
  const openapi = buildOpenApi(routes, {
    title: "agentgate admin API",
    version: deps.version,
    description: "Model registry and A/B gateway for multi-agent LLM systems.",
  });
  // Unauthenticated, as Prometheus scrapes expect; labels carry no ids or secrets.
  app.get("/metrics", async (_req, res) => {
    res.setHeader("content-type", deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
  app.get("/openapi.json", (_req, res) => {
    res.json(openapi);
  });
  app.use(API_PREFIX, api);
  app.use(notFoundHandler);
  app.use(errorMiddleware(deps.log));
  return { app, routes, openapi };
}
