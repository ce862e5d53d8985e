/**
 * Everything the gateway learns about one proxied call as it goes, turned at the end into the
 * inference event and the Prometheus observations. Every call produces exactly one event,
 * including calls refused before an agent was known (recorded under agent `unknown`).
 */
import type { ServerResponse } from "node:http";
import { buildCapture, type RawAnswer } from "../capture/capture.js";
import type { CapturePolicy } from "../capture/policy.js";
import { storable } from "../db/storable.js";
import type { InferenceEvent } from "../events/recorder.js";
import type { Metrics } from "../metrics.js";
import type { JsonSummary } from "./json-usage.js";
import type { Resolution } from "./resolve.js";
import type { VersionRoute } from "./routing-table.js";
import type { SseSummary } from "./sse-usage.js";
import type { UpstreamError } from "./upstream-errors.js";
import type { Usage } from "./usage.js";

const UNKNOWN = "unknown";
/** nginx's convention for "the client closed the connection before the answer". */
const CLIENT_CLOSED = 499;

let lastMs = 0;
let sameMs = 0;
/** The ISO text up to the seconds' dot, for the second of `lastSecond` (rebuilt once a second). */
let lastSecond = Number.NaN;
let secondText = "";

/**
 * Now, as ISO-8601 with microseconds (PostgreSQL keeps them): the wall clock's millisecond, then
 * the call's rank among those that arrived in the same millisecond on this process. Calls faster
 * than a millisecond apart still sort in the order they came (datasets list captures by time).
 * `Date#toISOString` runs once a second, not once a call: it was a few µs of every call.
 */
export function arrivalTime(now = Date.now()): string {
  if (now === lastMs) sameMs = Math.min(sameMs + 1, 999);
  else {
    lastMs = now;
    sameMs = 0;
  }
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    secondText = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const micros = (now - second * 1000) * 1000 + sameMs;
  return `${secondText}${String(micros).padStart(6, "0")}Z`;
}

export class CallRecord {
  readonly startedAt = performance.now();
  private readonly at = arrivalTime();
  private system = UNKNOWN;
  private agent = UNKNOWN;
  private stream = false;
  private session: string | null = null;
  private user: string | null = null;
  private resolution: Resolution | null = null;
  private served: VersionRoute | null = null;
  private fallback = false;
  private errorClass: string | null = null;
  private status: number | null = null;
  private upstreamStartedAt: number | null = null;
  private upstreamMs: number | null = null;
  private ttftMs: number | null = null;
  private cost: number | null = null;
  /** Set only for agents that capture their calls: the request's messages, then the answer. */
  private capture: { policy: CapturePolicy; messages: unknown; tools: unknown } | null = null;
  private answer: RawAnswer | null = null;
  usage: Usage | null = null;

  constructor(
    readonly requestId: string,
    private readonly metrics: Metrics,
  ) {}

  identify(ref: string, o: { stream: boolean; session: string | null; user: string | null }): void {
    const [system, agent] = ref.split("/", 2);
    this.system = system || UNKNOWN;
    this.agent = agent || UNKNOWN;
    Object.assign(this, o);
  }

  resolved(r: Resolution): void {
    this.resolution = r;
    this.served = r.version;
  }

  /** The agent captures its calls: keep the client's messages (processed in `finish`). */
  willCapture(policy: CapturePolicy, body: { messages: unknown; tools?: unknown }): void {
    this.capture = { policy, messages: body.messages, tools: body.tools };
  }

  /** The stream tap's accumulation budget when capturing; undefined (no accumulation) otherwise. */
  get captureMaxChars(): number | undefined {
    return this.capture?.policy.maxBytes;
  }

  /**
   * An upstream attempt failed (the proxy reports each attempt once). A call the client cancelled
   * is not the upstream's failure: its event says `aborted`, and
   * `agentgate_requests_total{status="499"}` counts it.
   */
  upstreamFailed(err: UpstreamError): void {
    this.errorClass = err.errorClass;
    if (err.errorClass === "aborted") return;
    this.metrics.upstreamErrorsTotal.inc({ ...this.labels(), error_class: err.errorClass });
  }

  fellBack(to: VersionRoute): void {
    const { system, agent, arm } = this.labels();
    this.metrics.fallbacksTotal.inc({
      system,
      agent,
      arm,
      version: String(this.resolution?.version.number ?? UNKNOWN),
    });
    this.fallback = true;
    this.served = to;
  }

  /** `startedAt`: `performance.now()` when the successful upstream attempt began. */
  upstreamAnswered(served: VersionRoute, startedAt: number): void {
    this.served = served;
    this.upstreamStartedAt = startedAt;
    // A success after a fallback is a success: the failure stays in upstream_errors_total.
    this.errorClass = null;
  }

  /** The upstream's answer has been read to its end (or broke off). */
  upstreamDone(): void {
    if (this.upstreamStartedAt !== null) this.upstreamMs = performance.now() - this.upstreamStartedAt;
  }

  streamed(s: SseSummary): void {
    this.usage = s.usage;
    if (this.capture && s.answer) this.answer = s.answer;
    if (s.firstTokenAt !== null) this.ttftMs = s.firstTokenAt - this.startedAt;
  }

  jsonAnswered(s: JsonSummary): void {
    this.usage = s.usage;
    if (this.capture && s.message) this.answer = s.message;
  }

  priced(cost: number | null): void {
    this.cost = cost;
  }

  failed(status: number): void {
    this.status = status;
  }

  /**
   * The answer's x-agentgate-* headers as a flat [name, value, ...] list for `writeHead`: the
   * request id always; once routed, the version that serves (or would have), the route
   * (`fallback` after one) and the experiment arm.
   */
  responseHeaders(): string[] {
    const h = ["x-agentgate-request-id", this.requestId];
    const r = this.resolution;
    if (r && this.served) {
      h.push("x-agentgate-version", String(this.served.number));
      h.push("x-agentgate-route", this.fallback ? "fallback" : r.route);
      if (r.experiment) {
        h.push("x-agentgate-experiment", String(r.experiment.id), "x-agentgate-arm", r.experiment.arm);
      }
    }
    return h;
  }

  /** Emits the metrics and returns the event; called once, when the answer is over. */
  finish(res: ServerResponse): InferenceEvent {
    const latencyMs = performance.now() - this.startedAt;
    let status = this.status ?? res.statusCode;
    // `writableEnded`: the answer was handed to the socket (it may still be flushing); if it was
    // not, the client went away first.
    if (!res.writableEnded && this.status === null) {
      status = CLIENT_CLOSED;
      this.errorClass ??= "aborted";
    }
    const r = this.resolution;
    const s = this.metrics.callSeries(this.labels());
    s.requests(status).inc();
    s.duration.observe(latencyMs / 1000);
    if (this.upstreamMs !== null) {
      s.upstream.observe(this.upstreamMs / 1000);
      s.overhead.observe(Math.max(0, latencyMs - this.upstreamMs) / 1000);
    }
    if (this.ttftMs !== null) s.ttft.observe(this.ttftMs / 1000);
    if (this.usage) {
      s.tokens("prompt").inc(this.usage.prompt_tokens);
      s.tokens("completion").inc(this.usage.completion_tokens);
      if (this.usage.cached_tokens) s.tokens("cached").inc(this.usage.cached_tokens);
    }
    if (this.cost !== null) s.cost.inc(this.cost);
    const event: InferenceEvent = {
      request_id: this.requestId,
      at: this.at,
      // Text the client chose (the agent it named, found or not; its session and user ids), made
      // storable here so that no client can turn every batch into the writer's event-by-event
      // fallback (src/events/write.ts), which stays for what nobody foresaw.
      system: storable(this.system),
      agent: storable(this.agent),
      agent_id: r?.agent.id ?? null,
      route: r ? (this.fallback ? "fallback" : r.route) : null,
      experiment_id: r?.experiment?.id ?? null,
      arm: r?.experiment?.arm ?? null,
      assigned_version: r?.version.number ?? null,
      served_version: this.upstreamStartedAt !== null && this.served ? this.served.number : null,
      served_model: this.served?.model ?? null,
      upstream: this.served?.upstream.name ?? null,
      fallback: this.fallback,
      stream: this.stream,
      status,
      error_class: this.errorClass,
      session_id: nullableStorable(this.session),
      user_id: nullableStorable(this.user),
      unit_key: nullableStorable(r?.experiment?.unitKey ?? null),
      latency_ms: latencyMs,
      upstream_ms: this.upstreamMs,
      ttft_ms: this.ttftMs,
      prompt_tokens: this.usage?.prompt_tokens ?? null,
      completion_tokens: this.usage?.completion_tokens ?? null,
      cached_tokens: this.usage?.cached_tokens ?? null,
      cost_usd: this.cost,
    };
    if (this.capture && this.answer && status >= 200 && status < 300 && event.served_version !== null) {
      try {
        event.capture = buildCapture(
          {
            messages: this.capture.messages,
            tools: this.capture.tools,
            answer: this.answer,
            version: event.served_version,
          },
          this.capture.policy,
        );
      } catch {
        // A capture is never worth an event: whatever went wrong, the event is recorded without it.
      }
    }
    return event;
  }

  /** Metric labels; system and agent only once resolved, so client input cannot mint new series. */
  private labels() {
    const r = this.resolution;
    return {
      system: r?.agent.system ?? UNKNOWN,
      agent: r?.agent.agent ?? UNKNOWN,
      version: this.served ? String(this.served.number) : "none",
      arm: r?.experiment?.arm ?? "none",
      route: r ? (this.fallback ? "fallback" : r.route) : "none",
    };
  }
}

const nullableStorable = (s: string | null) => (s === null ? null : storable(s));
