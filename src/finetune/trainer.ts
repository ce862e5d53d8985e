/**
 * Trainers: OpenAI-compatible fine-tuning APIs, registered as upstreams. The `openai` SDK does the
 * talking (files + fine_tuning.jobs); this module builds a client from the upstream row and the
 * environment, and turns every SDK failure into a clear `AppError` (502, or 504 on a timeout)
 * that names the trainer and never carries the key.
 */
import type { Knex } from "knex";
import type OpenAI from "openai";
import { AppError, notFound } from "../errors.js";
import { resolveApiKey } from "../gateway/upstream-client.js";

export type Trainer = { name: string; client: OpenAI };

type Sdk = typeof import("openai");
let sdk: Sdk | undefined;
/**
 * The SDK is loaded when a trainer is first needed, not with the server: its ~2 MB of module code
 * would otherwise sit in the heap of every gateway that never fine-tunes, and be walked by every
 * full garbage collection on the data plane.
 */
export async function loadSdk(): Promise<Sdk> {
  sdk ??= await import("openai");
  return sdk;
}

/** The SDK refuses an empty key; a trainer without one (local, trust auth) gets this placeholder. */
const NO_KEY = "agentgate-no-key";
const MAX_MESSAGE = 500;

export async function openTrainer(db: Knex, name: string, env: NodeJS.ProcessEnv): Promise<Trainer> {
  const row = await db("upstreams").where({ name }).first("name", "base_url", "api_key_env", "timeout_ms");
  if (!row) throw notFound("upstream_not_found", `trainer '${name}' (an upstream)`);
  const { OpenAI: Client } = await loadSdk();
  const client = new Client({
    baseURL: row.base_url,
    apiKey: resolveApiKey(row.api_key_env, env) ?? NO_KEY,
    // Never retried here: a create that timed out may have created a job; the follower polls again.
    maxRetries: 0,
    timeout: row.timeout_ms,
    // The SDK would otherwise pick up OPENAI_ORG_ID/OPENAI_PROJECT_ID from the server's environment.
    organization: null,
    project: null,
  });
  return { name: row.name, client };
}

/** Runs one trainer call; any failure becomes a 502/504 naming the trainer and what was asked. */
export async function trainerCall<T>(trainer: Trainer, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw trainerError(trainer.name, what, err);
  }
}

export function trainerError(name: string, what: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  // Without the SDK loaded no trainer was called, so no SDK error can exist.
  if (sdk && err instanceof sdk.APIConnectionTimeoutError)
    return new AppError("upstream_timeout", `trainer '${name}' did not answer in time (${what})`);
  if (sdk && err instanceof sdk.APIConnectionError)
    return new AppError("upstream_error", `trainer '${name}' is unreachable (${what})`);
  if (sdk && err instanceof sdk.APIError) {
    const body = err.error as { message?: unknown } | undefined;
    const detail = typeof body?.message === "string" ? body.message : "no message";
    return new AppError(
      "upstream_error",
      `trainer '${name}' answered ${err.status ?? "an error"} to ${what}: ${detail.slice(0, MAX_MESSAGE)}`,
    );
  }
  return new AppError("upstream_error", `trainer '${name}' failed (${what}): unexpected answer`);
}
