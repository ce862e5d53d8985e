/**
 * The composition root: config → database → migrations → services → HTTP server. Nothing else
 * builds the object graph. Tests start real instances through `startAgentgate` on port 0.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };
import { TokenService } from "./auth/tokens.js";
import { CaptureCleaner } from "./capture/cleanup.js";
import { CaptureService } from "./capture/service.js";
import type { Config } from "./config.js";
import { DatasetService } from "./datasets/service.js";
import { type DbHandle, describeDb, openDb } from "./db/knex.js";
import { migrateLatest } from "./db/migrate.js";
import { ConfigChanges, listenConfigChanges } from "./db/notify.js";
import { defaultEventBatchSize, defaultEventFlushMs, EventRecorder } from "./events/recorder.js";
import { FeedbackService } from "./experiments/feedback.js";
import { Guardian } from "./experiments/guardian.js";
import { MetricService } from "./experiments/metrics.js";
import { PromotionService } from "./experiments/promote.js";
import { ExperimentService } from "./experiments/service.js";
import { FineTuneFollower } from "./finetune/follower.js";
import { createOpenAiFineTuning } from "./finetune/openai-endpoint.js";
import { FineTuneService } from "./finetune/service.js";
import { sha256Hex } from "./gateway/chat-request.js";
import { loadPriceTable } from "./gateway/pricing.js";
import { createDataPlane } from "./gateway/proxy.js";
import { RoutingSync } from "./gateway/routing-sync.js";
import { UpstreamClient } from "./gateway/upstream-client.js";
import { VersionDirectory } from "./gateway/version-address.js";
import { createHttpApp, type HttpApp } from "./http/app.js";
import { settleHttpObjectShapes } from "./http/object-shapes.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { MlflowClient } from "./mlflow/client.js";
import { MlflowSyncScheduler } from "./mlflow/scheduler.js";
import { MlflowSyncService } from "./mlflow/sync.js";
import { AliasService } from "./registry/aliases.js";
import { CatalogService } from "./registry/catalog.js";
import { PinService } from "./registry/pins.js";
import { UpstreamService } from "./registry/upstreams.js";
import { VersionService } from "./registry/versions.js";

export const VERSION: string = pkg.version;

export type StartOptions = {
  logger?: Logger;
  /** Embedded database in memory instead of the data directory (tests). */
  inMemory?: boolean;
  /** Environment the data plane reads upstream API keys from (tests inject their own). */
  env?: NodeJS.ProcessEnv;
};

export type Agentgate = {
  url: string;
  port: number;
  config: Config;
  dbHandle: DbHandle;
  http: HttpApp;
  log: Logger;
  metrics: Metrics;
  routing: RoutingSync;
  recorder: EventRecorder;
  /** Guardrail checks, automatic rollback and ramps of running experiments. */
  guardian: Guardian;
  /** Deletes captures past their agent's retention (tests call `run()` directly). */
  captureCleaner: CaptureCleaner;
  /** Follows running fine-tune jobs (tests call `sweep()` directly). */
  fineTuneFollower: FineTuneFollower;
  /** Periodic MLflow sync (tests call `run()` directly). */
  mlflowScheduler: MlflowSyncScheduler;
  close(): Promise<void>;
};

export async function startAgentgate(config: Config, opts: StartOptions = {}): Promise<Agentgate> {
  const log = opts.logger ?? createLogger(config.logLevel);
  // What has been started so far, stopped in reverse order if a later step fails.
  const started: (() => Promise<void> | void)[] = [];
  try {
    return await assemble(config, opts, log, started);
  } catch (err) {
    for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => {});
    throw err;
  }
}

async function assemble(
  config: Config,
  opts: StartOptions,
  log: Logger,
  started: (() => Promise<void> | void)[],
): Promise<Agentgate> {
  const dbOpts = {
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    inMemory: opts.inMemory,
    threadPriority: config.pglitePriority,
  };
  const dbHandle = openDb(dbOpts, log);
  started.push(() => dbHandle.close());
  const { db } = dbHandle;
  const applied = await migrateLatest(db);
  log.info({ database: describeDb(dbOpts), migrations: applied }, "database ready");

  const metrics = createMetrics();
  const configChanges = new ConfigChanges();
  const onChange = configChanges.notify;
  const tokens = new TokenService(db, config.adminToken, onChange);
  const registry = {
    upstreams: new UpstreamService(db, onChange),
    catalog: new CatalogService(db),
    versions: new VersionService(db, onChange),
    aliases: new AliasService(db, onChange),
    pins: new PinService(db, onChange),
  };
  const experiments = new ExperimentService(db, onChange);
  const promotion = new PromotionService(db, experiments, onChange);
  const metricDefs = new MetricService(db);
  const recorder = new EventRecorder(
    db,
    {
      spoolDir: path.join(config.dataDir, "spool"),
      flushIntervalMs: config.eventFlushMs ?? defaultEventFlushMs(dbHandle.kind),
      batchSize: defaultEventBatchSize(dbHandle.kind),
    },
    metrics,
    log,
  );
  const feedback = new FeedbackService(db, metrics, { recorder });
  const capture = new CaptureService(db, onChange);
  const datasets = new DatasetService(db);
  const mlflow = new MlflowSyncService(
    db,
    registry.versions,
    config.mlflow ? new MlflowClient({ ...config.mlflow }) : null,
    metrics,
  );
  const prices = await loadPriceTable(config.pricesFile);
  const fineTunes = new FineTuneService({
    db,
    prices,
    onChange,
    env: opts.env ?? process.env,
    onEnded: (status) => metrics.fineTunesEndedTotal.inc({ status }),
  });

  const routing = new RoutingSync(db, log, metrics, config.routingPollMs);
  await routing.start();
  started.push(() => routing.stop());
  const listener = await listenConfigChanges(
    dbHandle,
    config.databaseUrl,
    () => void routing.reload(),
    () => void routing.reload(),
    (err) => log.warn({ err: String(err) }, "config listener connection problem; reconnecting"),
  );
  started.push(() => listener.close());
  const guardian = new Guardian(db, experiments, metrics, log, onChange, {
    intervalMs: config.guardrailIntervalMs,
  });
  guardian.start();
  started.push(() => guardian.stop());
  recorder.start();
  started.push(() => recorder.drain());
  const captureCleaner = new CaptureCleaner(db, log, { intervalMs: config.captureCleanupMs });
  captureCleaner.start();
  started.push(() => captureCleaner.stop());
  const fineTuneFollower = new FineTuneFollower(db, fineTunes, log, { intervalMs: config.fineTunePollMs });
  fineTuneFollower.start();
  started.push(() => fineTuneFollower.stop());
  const mlflowScheduler = new MlflowSyncScheduler(mlflow, log, {
    intervalMs: config.mlflow?.syncIntervalMs ?? 0,
  });
  mlflowScheduler.start();
  started.push(() => mlflowScheduler.stop());
  const upstreams = new UpstreamClient();
  started.push(() => upstreams.close());
  const dataPlane = createDataPlane({
    routing,
    upstreams,
    prices,
    recorder,
    metrics,
    log,
    proxyAuth: config.proxyAuth,
    bootstrapHash: config.adminToken ? sha256Hex(config.adminToken) : undefined,
    maxBodyBytes: config.maxBodyBytes,
    env: opts.env,
    versions: new VersionDirectory(db),
    fineTuning: createOpenAiFineTuning({
      db,
      tokens,
      fineTunes,
      log,
      trainer: config.fineTuneTrainer,
      maxBodyBytes: config.maxBodyBytes,
    }),
  });
  const httpApp = createHttpApp({
    db,
    log,
    tokens,
    registry,
    experiments,
    promotion,
    metricDefs,
    feedback,
    recorder,
    capture,
    datasets,
    fineTunes,
    mlflow,
    metrics,
    version: VERSION,
    configChanges: { notified: () => configChanges.notified, apply: () => routing.reload() },
    readinessChecks: { routing_table: () => routing.ready },
  });

  settleHttpObjectShapes();
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/v1/")) void dataPlane(req, res);
    else httpApp.app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  log.info({ url, version: VERSION }, "agentgate listening");

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Stop accepting calls and let those in flight finish; then stop the rest in reverse order
      // of start, which drains the event queue before the database closes.
      await new Promise<void>((resolve) => {
        // Node keeps a keep-alive connection open after the call it was busy with at close time,
        // so idle connections are swept until none is left (stragglers are cut after 5 s).
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        sweep.unref();
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      });
      for (const stop of started.reverse()) await stop();
      log.info("agentgate stopped");
    })();
    return closing;
  };
  return {
    url,
    port,
    config,
    dbHandle,
    http: httpApp,
    log,
    metrics,
    routing,
    recorder,
    guardian,
    captureCleaner,
    mlflowScheduler,
    fineTuneFollower,
    close,
  };
}
