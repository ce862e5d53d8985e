/**
 * A fake OpenAI-compatible fine-tuning API on 127.0.0.1 (random port), following the public shapes
 * of openai-node 6.x (`resources/files.ts`, `resources/fine-tuning/jobs/jobs.ts`):
 *
 *   POST   /v1/files                          multipart: file, purpose → a `file` object
 *   GET    /v1/files/{id}                     the `file` object;  DELETE → {id, object, deleted}
 *   GET    /v1/files/{id}/content             the bytes received
 *   POST   /v1/fine_tuning/jobs               {model, training_file, suffix?, hyperparameters?, method?, seed?, metadata?}
 *   GET    /v1/fine_tuning/jobs               ?after&limit, newest first, with has_more
 *   GET    /v1/fine_tuning/jobs/{id}          the `fine_tuning.job` (each call moves it on, see below)
 *   GET    /v1/fine_tuning/jobs/{id}/events   ?after&limit, newest first, with has_more
 *   POST   /v1/fine_tuning/jobs/{id}/cancel   the job, status `cancelled`
 *
 * Progress: a job starts `validating_files`; every retrieve moves it `stepsPerRetrieve` steps along
 * validating_files → queued → running → succeeded (0 = it stays until `advance`). At
 * `validating_files` → `queued` the training file is checked (one JSON object with a `messages`
 * list per line, at least 10 lines): a bad file fails the job with `invalid_training_file`. On
 * success `fine_tuned_model` is `ft:<base>:<org>:<suffix>:<job id tail>` and `trained_tokens` =
 * Σ over lines of ceil(bytes / 4) × epochs (n_epochs when a number, else 3).
 *
 * Scripts: `failNextJob(error)` makes the next created job fail when it would start running, with
 * OpenAI's `error: {code, message, param}`; `failCreate(status, times)` answers job creations with
 * an OpenAI-shaped 5xx/4xx; `failRetrieve(status, times)` the same for retrieves. With `apiKey`
 * set, every request must carry `Authorization: Bearer <apiKey>` (else 401 invalid_api_key).
 * `files` records every upload with its bytes, so tests can compare them with the dataset.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { sendJson, sendStatusFault } from "./fake-upstream.js";
import {
  checkFile,
  type Event,
  type FakeJob,
  fileObject,
  now,
  ORDER,
  page,
  rid,
  type TrainerError,
  type UploadedFile,
} from "./fine-tuning-format.js";

export type { FakeJob, TrainerError, UploadedFile } from "./fine-tuning-format.js";
export type FakeTrainerOptions = {
  apiKey?: string;
  /** Steps a job moves on each retrieve (default 1; 3 = done at the first retrieve; 0 = manual). */
  stepsPerRetrieve?: number;
  org?: string;
};

export type FakeTrainer = {
  url: string;
  files: UploadedFile[];
  jobs: Map<string, FakeJob>;
  /** Every request: method, path, and the JSON body (or the multipart fields' names). */
  requests: { method: string; path: string; body: unknown }[];
  failNextJob(error: TrainerError): void;
  failCreate(status: number, times?: number): void;
  failRetrieve(status: number, times?: number): void;
  setStepsPerRetrieve(n: number): void;
  /** Moves a job on by `steps` (as retrieves do). */
  advance(id: string, steps?: number): FakeJob;
  close(): Promise<void>;
};

export async function startFakeTrainer(opts: FakeTrainerOptions = {}): Promise<FakeTrainer> {
  const org = opts.org ?? "fake-org";
  let steps = opts.stepsPerRetrieve ?? 1;
  const files: UploadedFile[] = [];
  const jobs = new Map<string, FakeJob>();
  const events = new Map<string, Event[]>();
  const failures = new Map<string, TrainerError>();
  const requests: FakeTrainer["requests"] = [];
  const sockets = new Set<Socket>();
  let nextJobError: TrainerError | null = null;
  const scripted = { create: { status: 0, times: 0 }, retrieve: { status: 0, times: 0 } };

  const event = (
    job: FakeJob,
    message: string,
    level: Event["level"] = "info",
    type: Event["type"] = "message",
    data = {},
  ) => {
    const list = events.get(job.id) ?? [];
    list.push({
      object: "fine_tuning.job.event",
      id: `ftevent-${rid()}`,
      created_at: now(),
      level,
      message,
      type,
      data,
    });
    events.set(job.id, list);
  };

  const epochs = (job: FakeJob) =>
    typeof job.hyperparameters.n_epochs === "number" ? job.hyperparameters.n_epochs : 3;

  const move = (job: FakeJob, n: number): FakeJob => {
    for (let i = 0; i < n; i++) {
      const at = ORDER.indexOf(job.status as (typeof ORDER)[number]);
      if (at < 0 || at === ORDER.length - 1) break;
      const next = ORDER[at + 1] as FakeJob["status"];
      if (next === "queued") {
        const file = files.find((f) => f.id === job.training_file) as UploadedFile;
        const bad = checkFile(file);
        if (bad) {
          fail(job, bad);
          break;
        }
        job.status = "queued";
        event(job, "Files validated, moving job to queued state");
      } else if (next === "running") {
        const scriptedError = failures.get(job.id);
        if (scriptedError) {
          fail(job, scriptedError);
          break;
        }
        job.status = "running";
        event(job, "Fine-tuning job started");
        event(job, "Step 1/10: training loss=1.23", "info", "metrics", {
          step: 1,
          train_loss: 1.23,
          total_steps: 10,
        });
      } else {
        const file = files.find((f) => f.id === job.training_file) as UploadedFile;
        const perEpoch = file.content
          .split("\n")
          .filter((l) => l.trim() !== "")
          .reduce((t, l) => t + Math.ceil(Buffer.byteLength(l) / 4), 0);
        job.status = "succeeded";
        job.trained_tokens = perEpoch * epochs(job);
        job.fine_tuned_model = `ft:${job.model}:${org}:${job.user_provided_suffix ?? ""}:${job.id.slice(-8)}`;
        job.finished_at = now();
        job.result_files = [`file-${rid()}`];
        event(job, "Step 10/10: training loss=0.12", "info", "metrics", {
          step: 10,
          train_loss: 0.12,
          total_steps: 10,
        });
        event(job, `New fine-tuned model created: ${job.fine_tuned_model}`);
        event(job, "The job has successfully completed");
      }
    }
    return job;
  };

  const fail = (job: FakeJob, error: TrainerError) => {
    job.status = "failed";
    job.error = error;
    job.finished_at = now();
    event(job, error.message, "error");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent)
        sendError(res, 500, "The server had an error while processing your request.", "server_error", null);
      else res.destroy();
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://fake");
    const path = url.pathname;
    const type = req.headers["content-type"] ?? "";
    let body: unknown = null;
    let form: FormData | null = null;
    if (type.startsWith("multipart/form-data")) {
      form = await new Response(raw, { headers: { "content-type": type } }).formData();
      body = [...form.keys()];
    } else if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return sendError(
          res,
          400,
          "We could not parse the JSON body of your request.",
          "invalid_request_error",
          null,
        );
      }
    }
    requests.push({ method: req.method ?? "", path, body });
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`)
      return sendError(res, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");

    const m = (re: RegExp) => re.exec(path);
    if (req.method === "POST" && path === "/v1/files") {
      const file = form?.get("file");
      const purpose = form?.get("purpose");
      if (!(file instanceof Blob))
        return sendError(
          res,
          400,
          "Missing required parameter: 'file'.",
          "invalid_request_error",
          "missing_required_parameter",
          "file",
        );
      if (
        typeof purpose !== "string" ||
        !["fine-tune", "assistants", "batch", "vision", "user_data", "evals"].includes(purpose)
      )
        return sendError(
          res,
          400,
          `Invalid value for 'purpose': ${String(purpose)}.`,
          "invalid_request_error",
          "invalid_value",
          "purpose",
        );
      const filename = (file as File).name ?? "upload";
      if (purpose === "fine-tune" && !filename.endsWith(".jsonl"))
        return sendError(
          res,
          400,
          `Invalid file format for Fine-Tuning API. Must be .jsonl`,
          "invalid_request_error",
          "invalid_value",
          "file",
        );
      const content = Buffer.from(await file.arrayBuffer()).toString("utf8");
      const f: UploadedFile = {
        id: `file-${rid(24)}`,
        filename,
        purpose,
        bytes: Buffer.byteLength(content),
        created_at: now(),
        content,
      };
      files.push(f);
      return sendJson(res, 200, fileObject(f));
    }
    let hit = m(/^\/v1\/files\/([^/]+)(\/content)?$/);
    if (hit) {
      const f = files.find((x) => x.id === hit?.[1]);
      if (!f)
        return sendError(res, 404, `No such File object: ${hit[1]}`, "invalid_request_error", null, "id");
      if (req.method === "GET" && hit[2]) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        return void res.end(f.content);
      }
      if (req.method === "GET") return sendJson(res, 200, fileObject(f));
      if (req.method === "DELETE") {
        files.splice(files.indexOf(f), 1);
        return sendJson(res, 200, { id: f.id, object: "file", deleted: true });
      }
    }
    if (path === "/v1/fine_tuning/jobs" && req.method === "POST") {
      if (scripted.create.times > 0) {
        scripted.create.times--;
        return sendStatus(res, scripted.create.status);
      }
      return createJob(res, body as Record<string, unknown> | null);
    }
    if (path === "/v1/fine_tuning/jobs" && req.method === "GET") {
      const all = [...jobs.values()].reverse();
      return sendJson(res, 200, page(all, url));
    }
    hit = m(/^\/v1\/fine_tuning\/jobs\/([^/]+)(\/events|\/cancel)?$/);
    if (hit) {
      const job = jobs.get(hit[1] as string);
      if (!job)
        return sendError(
          res,
          404,
          `Could not find fine-tune job: ${hit[1]}`,
          "invalid_request_error",
          "fine_tune_not_found",
          "fine_tune_id",
        );
      if (req.method === "GET" && !hit[2]) {
        if (scripted.retrieve.times > 0) {
          scripted.retrieve.times--;
          return sendStatus(res, scripted.retrieve.status);
        }
        return sendJson(res, 200, move(job, steps));
      }
      if (req.method === "GET" && hit[2] === "/events")
        return sendJson(res, 200, page([...(events.get(job.id) ?? [])].reverse(), url));
      if (req.method === "POST" && hit[2] === "/cancel") {
        if (job.status === "succeeded" || job.status === "failed" || job.status === "cancelled")
          return sendError(
            res,
            400,
            `Job ${job.id} has already completed: ${job.status}`,
            "invalid_request_error",
            null,
          );
        job.status = "cancelled";
        job.finished_at = now();
        event(job, "Fine-tuning job cancelled");
        return sendJson(res, 200, job);
      }
    }
    return sendError(
      res,
      404,
      `Unknown request URL: ${req.method} ${path}.`,
      "invalid_request_error",
      "unknown_url",
    );
  };

  const createJob = (res: ServerResponse, b: Record<string, unknown> | null) => {
    if (!b || typeof b.model !== "string" || b.model === "")
      return sendError(
        res,
        400,
        "Missing required parameter: 'model'.",
        "invalid_request_error",
        "missing_required_parameter",
        "model",
      );
    const file = files.find((f) => f.id === b.training_file);
    if (!file)
      return sendError(
        res,
        400,
        `invalid training_file: ${String(b.training_file)}`,
        "invalid_request_error",
        null,
        "training_file",
      );
    if (file.purpose !== "fine-tune")
      return sendError(
        res,
        400,
        `File ${file.id} has purpose '${file.purpose}', not 'fine-tune'`,
        "invalid_request_error",
        null,
        "training_file",
      );
    if (b.suffix !== undefined && b.suffix !== null && (typeof b.suffix !== "string" || b.suffix.length > 64))
      return sendError(
        res,
        400,
        "suffix must be a string of at most 64 characters",
        "invalid_request_error",
        null,
        "suffix",
      );
    const method = (b.method as FakeJob["method"] | undefined) ?? { type: "supervised" };
    const hp = {
      n_epochs: "auto",
      batch_size: "auto",
      learning_rate_multiplier: "auto",
      ...((b.hyperparameters as object | undefined) ?? {}),
      ...((method.supervised?.hyperparameters as object | undefined) ?? {}),
    } as FakeJob["hyperparameters"];
    const job: FakeJob = {
      object: "fine_tuning.job",
      id: `ftjob-${rid(24)}`,
      model: b.model,
      created_at: now(),
      finished_at: null,
      fine_tuned_model: null,
      organization_id: `org-${org}`,
      result_files: [],
      status: "validating_files",
      validation_file: typeof b.validation_file === "string" ? b.validation_file : null,
      training_file: file.id,
      hyperparameters: hp,
      trained_tokens: null,
      error: null,
      seed: typeof b.seed === "number" ? b.seed : 42,
      estimated_finish: null,
      integrations: null,
      metadata: (b.metadata as Record<string, string> | undefined) ?? null,
      method: { type: method.type, supervised: { hyperparameters: hp } },
      user_provided_suffix: typeof b.suffix === "string" ? b.suffix : null,
    };
    jobs.set(job.id, job);
    if (nextJobError) {
      failures.set(job.id, nextJobError);
      nextJobError = null;
    }
    event(job, `Created fine-tuning job: ${job.id}`);
    event(job, `Validating training file: ${file.id}`);
    return sendJson(res, 200, job);
  };

  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    files,
    jobs,
    requests,
    failNextJob: (e) => {
      nextJobError = e;
    },
    failCreate: (status, times = 1) => {
      scripted.create = { status, times };
    },
    failRetrieve: (status, times = 1) => {
      scripted.retrieve = { status, times };
    },
    setStepsPerRetrieve: (n) => {
      steps = n;
    },
    advance: (id, n = 1) => move(jobs.get(id) as FakeJob, n),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An OpenAI-shaped error with its `param` (the chat fake's helper has none). */
function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
) {
  sendJson(res, status, { error: { message, type, param, code } });
}

const sendStatus = (res: ServerResponse, status: number) => sendStatusFault(res, status, "");

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
