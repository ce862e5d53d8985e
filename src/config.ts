/**
 * Environment → validated, typed configuration. Environment variable names stop here: the rest of
 * the code receives a `Config`. A bad value stops the start with one line naming the variable.
 */
import path from "node:path";
import { z } from "zod";
import { DATABASE_THREAD_PRIORITY, type DatabaseThreadPriority } from "./db/pglite-thread.js";

const PRIORITY = "must be 'idle' or a nice value between 0 and 19";
const port = z.coerce
  .number({ error: "must be a number" })
  .int("must be an integer")
  .min(0, "must be between 0 and 65535")
  .max(65535, "must be between 0 and 65535");

const databaseUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === "postgres:" || u.protocol === "postgresql:") && u.hostname !== "";
    } catch {
      return false;
    }
  }, "must be a postgres:// or postgresql:// URL with a host")
  .optional();

const onOff = z.enum(["on", "off"], { error: "must be 'on' or 'off'" });

const envSchema = z.object({
  PORT: port.default(8080),
  HOST: z.string().min(1, "must not be empty").default("127.0.0.1"),
  DATABASE_URL: databaseUrl,
  AGENTGATE_DATA_DIR: z.string().min(1, "must not be empty").default("./data"),
  AGENTGATE_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  AGENTGATE_PROXY_AUTH: onOff.default("on"),
  AGENTGATE_LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "must be one of fatal, error, warn, info, debug, trace, silent",
    })
    .default("info"),
  AGENTGATE_PRICES_FILE: z.string().min(1, "must not be empty").optional(),
  AGENTGATE_ROUTING_POLL_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(100, "must be at least 100")
    .default(10_000),
  AGENTGATE_GUARDRAIL_INTERVAL_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .refine((v) => v === 0 || v >= 50, "must be 0 (off) or at least 50")
    .default(30_000),
  AGENTGATE_EVENT_FLUSH_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(1, "must be at least 1")
    .max(10_000, "must be at most 10000")
    .optional(),
  AGENTGATE_PGLITE_NICE: z
    .union([z.literal("idle"), z.coerce.number().int(PRIORITY).min(0, PRIORITY).max(19, PRIORITY)], {
      error: PRIORITY,
    })
    .default(DATABASE_THREAD_PRIORITY),
  AGENTGATE_CAPTURE_CLEANUP_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .refine((v) => v === 0 || v >= 1000, "must be 0 (off) or at least 1000")
    .default(3_600_000),
  AGENTGATE_FINETUNE_POLL_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .refine((v) => v === 0 || v >= 50, "must be 0 (off) or at least 50")
    .default(30_000),
  AGENTGATE_FINETUNE_TRAINER: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be an upstream name (lowercase letters, digits, '-', '_')")
    .optional(),
  MLFLOW_TRACKING_URI: z
    .string()
    .refine((v) => {
      if (!URL.canParse(v)) return false;
      const u = new URL(v);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
    }, "must be the http(s) URL of an MLflow tracking server (agentgate talks to it over REST)")
    .refine((v) => {
      if (!URL.canParse(v)) return true;
      const u = new URL(v);
      return u.username === "" && u.password === "";
    }, "must not contain credentials (set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)")
    .optional(),
  MLFLOW_TRACKING_TOKEN: z.string().optional(),
  MLFLOW_TRACKING_USERNAME: z.string().optional(),
  MLFLOW_TRACKING_PASSWORD: z.string().optional(),
  AGENTGATE_MLFLOW_TIMEOUT_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(100, "must be at least 100")
    .default(30_000),
  AGENTGATE_MLFLOW_SYNC_INTERVAL_MS: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .refine((v) => v === 0 || v >= 1000, "must be 0 (off) or at least 1000")
    .default(0),
  AGENTGATE_MAX_BODY_BYTES: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(1024, "must be at least 1024")
    .default(10 * 1024 * 1024),
});

/** Every environment variable the configuration reads (deployment files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export type Config = {
  port: number;
  host: string;
  /** PostgreSQL URL; undefined selects the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  adminToken: string | undefined;
  proxyAuth: boolean;
  logLevel: z.infer<typeof envSchema>["AGENTGATE_LOG_LEVEL"];
  /** Largest accepted request body, for the data plane; the admin API caps at 1 MiB. */
  maxBodyBytes: number;
  /** JSON price file merged over the shipped price table. */
  pricesFile: string | undefined;
  /** Safety-net poll of the routing table; changes normally arrive by NOTIFY within milliseconds. */
  routingPollMs: number;
  /** How often running experiments' guardrails and ramps are checked; 0 turns the checks off. */
  guardrailIntervalMs: number;
  /**
   * How often queued events are written, as one batch; undefined = the storage's default
   * (`defaultEventFlushMs` in src/events/recorder.ts).
   */
  eventFlushMs: number | undefined;
  /** How the embedded database thread yields the CPUs (Linux; see `DATABASE_THREAD_PRIORITY`). */
  pglitePriority: DatabaseThreadPriority;
  /** How often expired captures are deleted (each agent's retention); 0 turns the job off. */
  captureCleanupMs: number;
  /** How often running fine-tune jobs are asked about; 0 turns the follower off. */
  fineTunePollMs: number;
  /** Upstream that jobs created through `/v1/fine_tuning/jobs` are forwarded to; unset = refused. */
  fineTuneTrainer: string | undefined;
  /** MLflow Model Registry mirroring (src/mlflow/); undefined when MLFLOW_TRACKING_URI is not set. */
  mlflow: MlflowConfig | undefined;
};

export type MlflowConfig = {
  trackingUri: string;
  /** Bearer token, else basic auth with username and password; never logged or returned. */
  token: string | undefined;
  username: string | undefined;
  password: string | undefined;
  timeoutMs: number;
  /** Periodic sync in both directions; 0 = off (sync on request only). */
  syncIntervalMs: number;
};

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid configuration: ${variable} ${detail}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment. Empty strings count as unset, as shells and compose files often pass them. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]),
  );
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? "environment");
    throw new ConfigError(variable, issue?.message ?? "is invalid");
  }
  const e = parsed.data;
  if ((e.MLFLOW_TRACKING_USERNAME === undefined) !== (e.MLFLOW_TRACKING_PASSWORD === undefined)) {
    const missing =
      e.MLFLOW_TRACKING_USERNAME === undefined ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD";
    throw new ConfigError(missing, "must be set too: basic auth to MLflow needs both username and password");
  }
  if (e.AGENTGATE_MLFLOW_SYNC_INTERVAL_MS > 0 && e.MLFLOW_TRACKING_URI === undefined)
    throw new ConfigError(
      "AGENTGATE_MLFLOW_SYNC_INTERVAL_MS",
      "needs MLFLOW_TRACKING_URI (the server to sync with)",
    );
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.AGENTGATE_DATA_DIR),
    adminToken: e.AGENTGATE_ADMIN_TOKEN,
    proxyAuth: e.AGENTGATE_PROXY_AUTH === "on",
    logLevel: e.AGENTGATE_LOG_LEVEL,
    maxBodyBytes: e.AGENTGATE_MAX_BODY_BYTES,
    pricesFile: e.AGENTGATE_PRICES_FILE,
    routingPollMs: e.AGENTGATE_ROUTING_POLL_MS,
    guardrailIntervalMs: e.AGENTGATE_GUARDRAIL_INTERVAL_MS,
    captureCleanupMs: e.AGENTGATE_CAPTURE_CLEANUP_MS,
    eventFlushMs: e.AGENTGATE_EVENT_FLUSH_MS,
    pglitePriority: e.AGENTGATE_PGLITE_NICE,
    mlflow: e.MLFLOW_TRACKING_URI
      ? {
          trackingUri: e.MLFLOW_TRACKING_URI,
          token: e.MLFLOW_TRACKING_TOKEN,
          username: e.MLFLOW_TRACKING_USERNAME,
          password: e.MLFLOW_TRACKING_PASSWORD,
          timeoutMs: e.AGENTGATE_MLFLOW_TIMEOUT_MS,
          syncIntervalMs: e.AGENTGATE_MLFLOW_SYNC_INTERVAL_MS,
        }
      : undefined,
    fineTunePollMs: e.AGENTGATE_FINETUNE_POLL_MS,
    fineTuneTrainer: e.AGENTGATE_FINETUNE_TRAINER,
  };
}
