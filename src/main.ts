/**
 * The composition root: config → database → migrations → services → HTTP server. Nothing else
 * builds the object graph. Tests start real instances through `startAgentgate` on port 0.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";
import pkg from "../package.json" with { type: "json" };
import { TokenService } from "./auth/tokens.js";
import type { Config } from "./config.js";
import { type DbHandle, describeDb, openDb } from "./db/knex.js";
import { migrateLatest } from "./db/migrate.js";
import { notifyConfigChanged } from "./db/notify.js";
import { createHttpApp, type HttpApp } from "./http/app.js";
import { createLogger, type Logger } from "./logger.js";
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
};

export type Agentgate = {
  url: string;
  port: number;
  config: Config;
  dbHandle: DbHandle;
  http: HttpApp;
  log: Logger;
  close(): Promise<void>;
};

export async function startAgentgate(config: Config, opts: StartOptions = {}): Promise<Agentgate> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const dbOpts = { databaseUrl: config.databaseUrl, dataDir: config.dataDir, inMemory: opts.inMemory };
  const dbHandle = openDb(dbOpts);
  const { db } = dbHandle;
  try {
    const applied = await migrateLatest(db);
    log.info({ database: describeDb(dbOpts), migrations: applied }, "database ready");
  } catch (err) {
    await dbHandle.close().catch(() => {});
    throw err;
  }

  const onChange = notifyConfigChanged;
  const tokens = new TokenService(db, config.adminToken);
  const registry = {
    upstreams: new UpstreamService(db, onChange),
    catalog: new CatalogService(db),
    versions: new VersionService(db, onChange),
    aliases: new AliasService(db, onChange),
    pins: new PinService(db, onChange),
  };
  const httpApp = createHttpApp({ db, log, tokens, registry, version: VERSION });

  const server = http.createServer(httpApp.app);
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
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      });
      await dbHandle.close();
      log.info("agentgate stopped");
    })();
    return closing;
  };
  return { url, port, config, dbHandle, http: httpApp, log, close };
}
