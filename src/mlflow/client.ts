/**
 * A typed client for MLflow's Model Registry REST API (`/api/2.0/mlflow/...`): registered models,
 * model versions, aliases and tags, searches with pagination. What it takes care of:
 * - transport: GET parameters in the query string (repeated keys for lists), every other method
 *   with a JSON body — DELETE included, which MLflow reads from the body, not the query string;
 * - MLflow's errors as `MlflowApiError` with its `error_code`; network failures and timeouts as
 *   `MlflowUnavailableError`; idempotent calls retried on 429/502/503/504 and lost connections;
 * - responses normalized: unset fields are omitted by MLflow, so lists default to `[]`, version
 *   numbers are strings (as on the wire), an empty `run_id` becomes undefined;
 * - quirks: a missing alias is `INVALID_PARAMETER_VALUE` (not `RESOURCE_DOES_NOT_EXIST`), and
 *   `model-versions/search` leaves `aliases` empty on SQL stores (read them with `get`);
 * - auth: a bearer token, or basic auth (MLFLOW_TRACKING_TOKEN / MLFLOW_TRACKING_USERNAME and
 *   _PASSWORD, as MLflow's own clients read them).
 */
import { networkReason } from "../network-errors.js";
import { codeForStatus, MlflowApiError, MlflowClientError, MlflowUnavailableError } from "./errors.js";

export type MlflowTag = { key: string; value: string };
export type ModelVersionStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";

export type ModelVersion = {
  name: string;
  /** A decimal string, as MLflow sends it. */
  version: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  source?: string;
  run_id?: string;
  run_link?: string;
  status?: ModelVersionStatus;
  status_message?: string;
  user_id?: string;
  tags: MlflowTag[];
  aliases: string[];
};

export type RegisteredModel = {
  name: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  tags: MlflowTag[];
  aliases: { alias: string; version: string }[];
};

export type SearchOptions = {
  filter?: string;
  maxResults?: number;
  orderBy?: string[];
  pageToken?: string;
};
export type Page<T> = { items: T[]; nextPageToken: string | undefined };

export type MlflowClientOptions = {
  /** The tracking server's base URL, e.g. `http://127.0.0.1:5000` (a path prefix is kept). */
  trackingUri: string;
  token?: string;
  username?: string;
  password?: string;
  /** Per call, including reading the answer. */
  timeoutMs?: number;
  /** Extra attempts for idempotent calls after a retryable failure. */
  retries?: number;
  retryDelayMs?: number;
};

/** The handlers' caps: larger `max_results` are refused with INVALID_PARAMETER_VALUE. */
export const MAX_REGISTERED_MODELS_PAGE = 1000;
export const MAX_MODEL_VERSIONS_PAGE = 200_000;

type Params = Record<string, string | number | boolean | string[] | MlflowTag[] | undefined>;
type Method = "GET" | "POST" | "PATCH" | "DELETE";

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Strips credentials and query from a URL, for messages and logs. */
export function describeUri(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return "(invalid URL)";
  }
}

function versionString(v: string | number): string {
  const s = String(v);
  if (!/^[1-9][0-9]*$/.test(s))
    throw new MlflowClientError(`model version must be a positive integer, got '${s}'`);
  return s;
}

type Raw = Record<string, unknown>;

function toModelVersion(raw: Raw): ModelVersion {
  const mv = raw as Partial<ModelVersion> & Raw;
  return {
    ...mv,
    name: String(mv.name ?? ""),
    version: String(mv.version ?? ""),
    run_id: typeof mv.run_id === "string" && mv.run_id !== "" ? mv.run_id : undefined,
    tags: Array.isArray(mv.tags) ? mv.tags : [],
    aliases: Array.isArray(mv.aliases) ? mv.aliases : [],
  };
}

function toRegisteredModel(raw: Raw): RegisteredModel {
  const rm = raw as Partial<RegisteredModel> & Raw;
  const aliases = Array.isArray(rm.aliases) ? rm.aliases : [];
  return {
    name: String(rm.name ?? ""),
    creation_timestamp: rm.creation_timestamp,
    last_updated_timestamp: rm.last_updated_timestamp,
    description: rm.description,
    tags: Array.isArray(rm.tags) ? rm.tags : [],
    aliases: aliases.map((a) => ({ alias: a.alias, version: String(a.version) })),
  };
}

/** Tags as a plain record (MLflow keeps one value per key). */
export function tagRecord(tags: readonly MlflowTag[]): Record<string, string> {
  return Object.fromEntries(tags.map((t) => [t.key, t.value ?? ""]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class MlflowClient {
  readonly uri: string;
  private readonly base: string;
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;

  constructor(opts: MlflowClientOptions) {
    const u = new URL(opts.trackingUri);
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new MlflowClientError("the MLflow tracking URI must be an http(s) URL");
    this.uri = describeUri(opts.trackingUri);
    this.base = `${this.uri}/api/2.0/mlflow`;
    if (opts.token) this.auth = `Bearer ${opts.token}`;
    else if (opts.username !== undefined && opts.password !== undefined)
      this.auth = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString("base64")}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 2;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
  }

  // Registered models

  async createRegisteredModel(m: { name: string; tags?: MlflowTag[]; description?: string }) {
    const r = await this.call<{ registered_model: Raw }>("POST", "registered-models/create", m, false);
    return toRegisteredModel(r.registered_model);
  }
  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const r = await this.call<{ registered_model: Raw }>("GET", "registered-models/get", { name });
    return toRegisteredModel(r.registered_model);
  }
  async updateRegisteredModel(name: string, description: string): Promise<RegisteredModel> {
    const r = await this.call<{ registered_model: Raw }>("PATCH", "registered-models/update", {
      name,
      description,
    });
    return toRegisteredModel(r.registered_model);
  }
  /** Deletes the model with all its versions. */
  async deleteRegisteredModel(name: string): Promise<void> {
    await this.call("DELETE", "registered-models/delete", { name });
  }
  async setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    await this.call("POST", "registered-models/set-tag", { name, key, value });
  }
  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.call("DELETE", "registered-models/delete-tag", { name, key });
  }
  async searchRegisteredModels(opts: SearchOptions = {}): Promise<Page<RegisteredModel>> {
    const r = await this.search("registered-models/search", opts, MAX_REGISTERED_MODELS_PAGE);
    const items = ((r.registered_models as Raw[] | undefined) ?? []).map(toRegisteredModel);
    return { items, nextPageToken: (r.next_page_token as string | undefined) || undefined };
  }
  /** Every page, `pageSize` at a time. */
  searchAllRegisteredModels(opts: Omit<SearchOptions, "pageToken" | "maxResults"> = {}, pageSize = 100) {
    return this.all((pageToken) => this.searchRegisteredModels({ ...opts, pageToken, maxResults: pageSize }));
  }

  // Model versions

  async createModelVersion(v: {
    name: string;
    /** Required by MLflow; a non-file URI must have an absolute path without `..` segments. */
    source: string;
    runId?: string;
    runLink?: string;
    tags?: MlflowTag[];
    description?: string;
  }): Promise<ModelVersion> {
    const body = {
      name: v.name,
      source: v.source,
      run_id: v.runId,
      run_link: v.runLink,
      tags: v.tags,
      description: v.description,
    };
    const r = await this.call<{ model_version: Raw }>("POST", "model-versions/create", body, false);
    return toModelVersion(r.model_version);
  }
  /** Includes the version's aliases (unlike search). */
  async getModelVersion(name: string, version: string | number): Promise<ModelVersion> {
    const r = await this.call<{ model_version: Raw }>("GET", "model-versions/get", {
      name,
      version: versionString(version),
    });
    return toModelVersion(r.model_version);
  }
  async updateModelVersion(name: string, version: string | number, description: string) {
    const r = await this.call<{ model_version: Raw }>("PATCH", "model-versions/update", {
      name,
      version: versionString(version),
      description,
    });
    return toModelVersion(r.model_version);
  }
  async deleteModelVersion(name: string, version: string | number): Promise<void> {
    await this.call("DELETE", "model-versions/delete", { name, version: versionString(version) });
  }
  async setModelVersionTag(name: string, version: string | number, key: string, value: string) {
    await this.call("POST", "model-versions/set-tag", { name, version: versionString(version), key, value });
  }
  async deleteModelVersionTag(name: string, version: string | number, key: string): Promise<void> {
    await this.call("DELETE", "model-versions/delete-tag", { name, version: versionString(version), key });
  }
  /** `aliases` is empty in these results on SQL stores (mlflow/mlflow#16734). */
  async searchModelVersions(opts: SearchOptions = {}): Promise<Page<ModelVersion>> {
    const r = await this.search("model-versions/search", opts, MAX_MODEL_VERSIONS_PAGE);
    const items = ((r.model_versions as Raw[] | undefined) ?? []).map(toModelVersion);
    return { items, nextPageToken: (r.next_page_token as string | undefined) || undefined };
  }
  searchAllModelVersions(opts: Omit<SearchOptions, "pageToken" | "maxResults"> = {}, pageSize = 1000) {
    return this.all((pageToken) => this.searchModelVersions({ ...opts, pageToken, maxResults: pageSize }));
  }

  // Aliases

  /** Points `alias` at `version`, moving it if it is set elsewhere. */
  async setAlias(name: string, alias: string, version: string | number): Promise<void> {
    await this.call("POST", "registered-models/alias", { name, alias, version: versionString(version) });
  }
  /** Succeeds when the alias is not set. */
  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.call("DELETE", "registered-models/alias", { name, alias });
  }
  /** The version `alias` points at, or null when the alias is not set. */
  async getByAlias(name: string, alias: string): Promise<ModelVersion | null> {
    try {
      const r = await this.call<{ model_version: Raw }>("GET", "registered-models/alias", { name, alias });
      return toModelVersion(r.model_version);
    } catch (err) {
      // MLflow answers INVALID_PARAMETER_VALUE "Registered model alias X not found." for an unset
      // alias of an existing model, and RESOURCE_DOES_NOT_EXIST for a missing model.
      if (err instanceof MlflowApiError && err.invalidParameter && /alias .* not found/i.test(err.message))
        return null;
      throw err;
    }
  }

  // Transport

  private search(path: string, opts: SearchOptions, cap: number): Promise<Raw> {
    if (
      opts.maxResults !== undefined &&
      (!Number.isInteger(opts.maxResults) || opts.maxResults < 1 || opts.maxResults > cap)
    )
      throw new MlflowClientError(`max_results must be an integer from 1 to ${cap}, got ${opts.maxResults}`);
    return this.call<Raw>("GET", path, {
      filter: opts.filter,
      max_results: opts.maxResults,
      order_by: opts.orderBy,
      page_token: opts.pageToken,
    });
  }

  private async all<T>(page: (token: string | undefined) => Promise<Page<T>>): Promise<T[]> {
    const out: T[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      const p = await page(token);
      out.push(...p.items);
      token = p.nextPageToken;
      // A server that hands back a token it already gave would otherwise loop forever.
      if (token !== undefined) {
        if (seen.has(token)) throw new MlflowClientError("MLflow returned the same page token twice");
        seen.add(token);
      }
    } while (token !== undefined);
    return out;
  }

  /** GETs, updates, tag and alias calls are idempotent and retried; creations are not. */
  private async call<T>(method: Method, path: string, params: Params, idempotent = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(method, path, params);
      } catch (err) {
        const retryable =
          (err instanceof MlflowApiError && RETRYABLE_STATUS.has(err.status)) ||
          (err instanceof MlflowUnavailableError && err.reason === "unreachable");
        if (!idempotent || !retryable || attempt >= this.retries) throw err;
        await sleep(this.retryDelayMs * 2 ** attempt);
      }
    }
  }

  private async once<T>(method: Method, path: string, params: Params): Promise<T> {
    const operation = `${method} ${path}`;
    const url = new URL(`${this.base}/${path}`);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.auth) headers.authorization = this.auth;
    let body: string | undefined;
    if (method === "GET") {
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
        else url.searchParams.set(k, String(v));
      }
    } else {
      headers["content-type"] = "application/json";
      body = JSON.stringify(params);
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      text = await res.text();
    } catch (err) {
      if (err instanceof DOMException && err.name === "TimeoutError")
        throw new MlflowUnavailableError(
          "timeout",
          `MLflow at ${this.uri} did not answer ${operation} within ${this.timeoutMs} ms`,
        );
      throw new MlflowUnavailableError(
        "unreachable",
        `MLflow at ${this.uri} is not reachable (${networkReason(err)})`,
      );
    }
    let parsed: Raw | undefined;
    try {
      parsed = text === "" ? {} : (JSON.parse(text) as Raw);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const code = typeof parsed?.error_code === "string" ? parsed.error_code : undefined;
      const message = typeof parsed?.message === "string" ? parsed.message : `HTTP ${res.status}`;
      throw new MlflowApiError(res.status, code ?? codeForStatus(res.status), message, operation);
    }
    if (parsed === undefined)
      throw new MlflowApiError(res.status, "INTERNAL_ERROR", "the answer is not JSON", operation);
    return parsed as T;
  }
}
