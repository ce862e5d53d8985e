/**
 * The OpenAI-compatible fine-tuning surface on the data plane, so that clients built for OpenAI's
 * API — DSPy's `OpenAIProvider` (BootstrapFinetune) with `OPENAI_BASE_URL` pointing at agentgate —
 * train through agentgate:
 *
 *   POST /v1/files                          multipart `file` + `purpose=fine-tune` → a dataset
 *   GET  /v1/files/{id}                     the file object
 *   POST /v1/fine_tuning/jobs               forwarded to the configured trainer (service.launch)
 *   GET  /v1/fine_tuning/jobs[/{id}]        agentgate's jobs as `fine_tuning.job` objects
 *   GET  /v1/fine_tuning/jobs/{id}/events   the trainer's events
 *   POST /v1/fine_tuning/jobs/{id}/cancel
 *
 * The agent a job is for: the `X-Agent` header, else `model: "agent:system/agent"` (what DSPy sends
 * for `dspy.LM("openai/agent:system/agent")`), else a `suffix` of `system/agent` or
 * `system.agent`. The base model is the agent's champion's model unless `model` names a real model.
 * Ids are agentgate's (`file-agentgate-<dataset>`, `ftjob-agentgate-<job>`); `fine_tuned_model`
 * is `openai/agent:<system>/<agent>@<version>` once the version is registered (see the docs for
 * why). Auth: a token with the `write` scope.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Knex } from "knex";
import type { Logger } from "pino";
import { hasScope } from "../auth/scopes.js";
import type { TokenService } from "../auth/tokens.js";
import { AppError } from "../errors.js";
import { readBody } from "../gateway/chat-request.js";
import { sendError, sendJson } from "../gateway/respond.js";
import { bearerToken } from "../http/auth.js";
import { describeZodError } from "../http/route.js";
import { findAgent } from "../registry/lookup.js";
import { parseAgentRef } from "../registry/names.js";
import { type FineTuneView, fineTuneCreate } from "./schemas.js";
import type { FineTuneService } from "./service.js";
import { datasetFromUpload } from "./uploads.js";

export type OpenAiEndpointDeps = {
  db: Knex;
  tokens: TokenService;
  fineTunes: FineTuneService;
  log: Logger;
  /** Upstream name of the trainer jobs are forwarded to (AGENTGATE_FINETUNE_TRAINER). */
  trainer: string | undefined;
  maxBodyBytes: number;
};

const FILE_PREFIX = "file-agentgate-";
const JOB_PREFIX = "ftjob-agentgate-";
const secs = (iso: string | Date) => Math.floor(new Date(iso).getTime() / 1000);
const idOf = (raw: string, prefix: string, what: string): number => {
  const n = raw.startsWith(prefix) ? Number(raw.slice(prefix.length)) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new AppError("invalid_request", `no such ${what}: ${raw}`, "id");
  return n;
};

/** A job as OpenAI's `fine_tuning.job`; it reads `succeeded` only once its version exists. */
export function openAiJob(j: FineTuneView) {
  const registered = j.versions[0];
  const status = j.status === "succeeded" && !registered ? "running" : j.status;
  return {
    object: "fine_tuning.job",
    id: `${JOB_PREFIX}${j.id}`,
    model: j.base_model,
    created_at: secs(j.created_at),
    finished_at: status === j.status && j.finished_at ? secs(j.finished_at) : null,
    fine_tuned_model: registered ? `openai/agent:${registered.agent}@${registered.version}` : null,
    organization_id: "agentgate",
    result_files: [],
    status,
    validation_file: null,
    training_file: `${FILE_PREFIX}${j.dataset.id}`,
    hyperparameters: {
      n_epochs: "auto",
      batch_size: "auto",
      learning_rate_multiplier: "auto",
      ...((j.hyperparameters as object | null) ?? {}),
    },
    trained_tokens: j.trained_tokens,
    error: j.error,
    seed: 0,
    estimated_finish: null,
    integrations: null,
    metadata: {
      agentgate_fine_tune: String(j.id),
      trainer_job_id: j.trainer_job_id,
      agents: j.agents.join(","),
    },
    method: j.method ?? { type: "supervised" },
    user_provided_suffix: j.suffix,
  };
}

export function createOpenAiFineTuning(deps: OpenAiEndpointDeps) {
  const authorize = async (req: IncomingMessage) => {
    const raw = bearerToken(req.headers.authorization);
    if (!raw)
      throw new AppError(
        "missing_token",
        "send 'Authorization: Bearer <token>' (a token with the 'write' scope)",
      );
    const actor = await deps.tokens.verify(raw);
    if (!actor) throw new AppError("invalid_token", "the API token is unknown or revoked");
    if (!hasScope(actor.scopes, "write"))
      throw new AppError("insufficient_scope", "fine-tuning requires a token with the 'write' scope");
    return actor;
  };

  const json = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const raw = await readBody(req, deps.maxBodyBytes);
    try {
      const v = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
    } catch {
      // below
    }
    throw new AppError("invalid_json", "the request body must be a JSON object");
  };

  async function upload(req: IncomingMessage, actor: Awaited<ReturnType<typeof authorize>>) {
    const type = req.headers["content-type"] ?? "";
    if (!type.startsWith("multipart/form-data"))
      throw new AppError(
        "unsupported_media_type",
        "upload the file as multipart/form-data (fields 'file' and 'purpose')",
      );
    const raw = await readBody(req, deps.maxBodyBytes);
    let form: FormData;
    try {
      form = await new Response(raw, { headers: { "content-type": type } }).formData();
    } catch {
      throw new AppError("invalid_request", "the multipart body could not be read", "file");
    }
    const purpose = form.get("purpose");
    if (purpose !== "fine-tune")
      throw new AppError("invalid_request", "purpose: only 'fine-tune' files are accepted here", "purpose");
    const file = form.get("file");
    if (!(file instanceof Blob)) throw new AppError("invalid_request", "file: missing", "file");
    const filename = (file as File).name || "upload.jsonl";
    const ds = await datasetFromUpload(deps.db, actor, filename, Buffer.from(await file.arrayBuffer()));
    return fileObject(ds.id, ds.bytes, ds.created_at, filename);
  }

  const fileObject = (id: number, bytes: number, created: Date, filename: string) => ({
    id: `${FILE_PREFIX}${id}`,
    object: "file",
    bytes,
    created_at: secs(created),
    filename,
    purpose: "fine-tune",
    status: "processed",
    expires_at: null,
    status_details: null,
  });

  async function getFile(id: number) {
    const ds = await deps
      .db("datasets as d")
      .join("dataset_files as f", "f.dataset_id", "d.id")
      .where("d.id", id)
      .first("d.id", "d.name", "d.filters", "d.created_at", "f.bytes");
    if (!ds) throw new AppError("dataset_not_found", `no such file: ${FILE_PREFIX}${id}`, "id");
    const filename = (ds.filters as { uploaded_file?: string }).uploaded_file ?? `${ds.name}.jsonl`;
    return fileObject(ds.id, Number(ds.bytes), ds.created_at, filename);
  }

  /** Which agent, which base model, from the job request (see the module comment). */
  async function target(req: IncomingMessage, body: Record<string, unknown>) {
    const model = typeof body.model === "string" ? body.model : "";
    const suffix = typeof body.suffix === "string" ? body.suffix : undefined;
    const header = req.headers["x-agent"];
    const fromModel = /^(?:openai\/)?agent:(.+)$/.exec(model)?.[1];
    const fromSuffix = suffix?.includes("/") || suffix?.includes(".") ? suffix.replace(".", "/") : undefined;
    const named = (typeof header === "string" && header.trim()) || fromModel || fromSuffix;
    const parsed = named ? parseAgentRef(named) : null;
    if (!parsed)
      throw new AppError(
        "invalid_request",
        "name the agent to fine-tune: model 'agent:system/agent', the 'X-Agent: system/agent' header, or suffix 'system/agent'",
        "model",
      );
    const a = await findAgent(deps.db, parsed.system, parsed.agent);
    const champion = await deps
      .db("aliases as al")
      .join("versions as v", "v.id", "al.version_id")
      .join("upstreams as u", "u.id", "v.upstream_id")
      .where({ "al.agent_id": a.id, "al.name": "champion" })
      .first("v.model", "u.name as upstream");
    const baseModel = fromModel !== undefined || model === "" ? champion?.model : model;
    if (!baseModel)
      throw new AppError(
        "no_routable_version",
        `agent '${named}' has no champion version to take the base model from: name the base model in 'model' and the agent in X-Agent`,
        "model",
      );
    const suffixForTrainer = suffix !== undefined && suffix !== fromSuffix ? suffix : undefined;
    return {
      ref: `${parsed.system}/${parsed.agent}`,
      baseModel,
      serving: champion?.upstream as string | undefined,
      suffix: suffixForTrainer,
    };
  }

  async function createJob(req: IncomingMessage, actor: Awaited<ReturnType<typeof authorize>>) {
    const body = await json(req);
    if (!deps.trainer)
      throw new AppError(
        "service_unavailable",
        "no trainer is configured: set AGENTGATE_FINETUNE_TRAINER to the upstream that runs fine-tunes",
      );
    const t = await target(req, body);
    const file = typeof body.training_file === "string" ? body.training_file : "";
    const input = fineTuneCreate.safeParse({
      dataset: idOf(file, FILE_PREFIX, "training_file"),
      trainer: deps.trainer,
      base_model: t.baseModel,
      agents: [t.ref],
      ...(t.suffix !== undefined ? { suffix: t.suffix } : {}),
      ...(body.hyperparameters && Object.keys(body.hyperparameters).length > 0
        ? { hyperparameters: body.hyperparameters }
        : {}),
      ...(body.method ? { method: body.method } : {}),
      ...(typeof body.seed === "number" ? { seed: body.seed } : {}),
      // DSPy's prompts are in its requests: the new version serves the model without an override,
      // from the upstream that serves the agent's champion (else the trainer).
      register: t.serving ? { upstream: t.serving } : {},
    });
    if (!input.success) throw describeZodError(input.error, "body");
    return openAiJob(await deps.fineTunes.launch(actor, input.data, "openai"));
  }

  async function listJobs(url: URL) {
    const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 20) || 20, 1), 100);
    const after = url.searchParams.get("after");
    const before = after ? idOf(after, JOB_PREFIX, "job") : undefined;
    const rows = await deps.fineTunes.list({ before, limit: limit + 1 });
    return { object: "list", data: rows.slice(0, limit).map(openAiJob), has_more: rows.length > limit };
  }

  async function route(req: IncomingMessage, url: URL) {
    const path = url.pathname;
    const method = req.method ?? "GET";
    const actor = await authorize(req);
    if (path === "/v1/files" && method === "POST") return upload(req, actor);
    const file = /^\/v1\/files\/([^/]+)$/.exec(path);
    if (file && method === "GET") return getFile(idOf(file[1] as string, FILE_PREFIX, "file"));
    if (path === "/v1/fine_tuning/jobs" && method === "POST") return createJob(req, actor);
    if (path === "/v1/fine_tuning/jobs" && method === "GET") return listJobs(url);
    const job = /^\/v1\/fine_tuning\/jobs\/([^/]+)(\/events|\/cancel)?$/.exec(path);
    if (job) {
      const id = idOf(job[1] as string, JOB_PREFIX, "fine-tuning job");
      if (!job[2] && method === "GET") return openAiJob(await deps.fineTunes.refresh(id));
      if (job[2] === "/events" && method === "GET") {
        const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 20) || 20, 1), 100);
        const after = url.searchParams.get("after") ?? undefined;
        const page = await deps.fineTunes.events(id, { limit, after });
        return { ...page, data: page.data.map((e) => ({ object: "fine_tuning.job.event", ...e })) };
      }
      if (job[2] === "/cancel" && method === "POST")
        return openAiJob(await deps.fineTunes.cancel(actor, id, "cancelled through /v1/fine_tuning/jobs"));
    }
    throw new AppError("route_not_found", `no route for ${method} ${path}`);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agentgate");
    try {
      sendJson(res, 200, await route(req, url));
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError("internal_error", "internal error");
      if (e.code === "internal_error") deps.log.error({ err }, "fine-tuning endpoint error");
      if (!req.readableEnded) req.resume();
      sendError(res, e);
    }
  };
}
