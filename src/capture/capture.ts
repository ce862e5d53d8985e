/**
 * Turning one proxied call into a stored capture: a bounded, sanitized copy of the client's
 * messages (and tools) and of the assistant's answer, redacted by the agent's paths and patterns,
 * and cut to the agent's byte cap.
 *
 * Runs once per captured call, after the answer has been handed to the client (from the call's
 * `finish`), so it adds nothing to the call's latency and the event queue and the disk spool only
 * ever hold redacted data. Its cost is bounded by the cap, not by the request: strings are cut to
 * the cap plus 1 KiB before any pattern runs, and copying stops once twice the cap has been copied.
 *
 * Which messages: the client's, as it sent them, not the upstream's (which carry the version's
 * prompt override). Versions are immutable, so the upstream conversation is the client's messages
 * with the served version's override re-applied, which dataset export does when asked for the
 * conversation "as served"; storing the client's messages keeps both choices open (see
 * `src/datasets/build.ts`).
 */

import { storable } from "../db/storable.js";
import { type CapturePolicy, type PathStep, REDACTED } from "./policy.js";

/** The assistant's answer as the proxy saw it: the JSON answer's message, or a stream's deltas. */
export type RawAnswer = {
  content?: unknown;
  refusal?: unknown;
  tool_calls?: unknown;
  /** A stream's accumulation stopped at the cap. */
  truncated?: boolean;
};

/** What goes into the `captures` table with the event. */
export type CaptureRecord = {
  /** The version that answered. */
  version: number | null;
  messages: unknown[];
  tools: unknown[] | null;
  response: Record<string, unknown>;
  truncated: boolean;
  /** Size of the stored JSON document, in bytes. */
  bytes: number;
};

const MAX_DEPTH = 48;
/** Strings are cut to the cap plus this much before redaction, so a secret at the cut still matches. */
const REDACT_MARGIN = 1024;
/** Members whose values are protocol enumerations, left alone by the patterns. */
const ENUM_KEYS = new Set(["role", "type"]);

type Doc = { messages: unknown[]; tools: unknown[] | null; response: Record<string, unknown> };

export function buildCapture(
  input: { messages: unknown; tools: unknown; answer: RawAnswer; version: number | null },
  policy: CapturePolicy,
): CaptureRecord {
  const copier = new Copier(policy.maxBytes + REDACT_MARGIN, 2 * policy.maxBytes + 4096);
  const response = copier.answer(input.answer);
  const messages: unknown[] = [];
  for (const m of Array.isArray(input.messages) ? input.messages : []) {
    if (copier.full) {
      copier.cut = true;
      break;
    }
    messages.push(copier.copy(m, 1));
  }
  let tools: unknown[] | null = null;
  if (Array.isArray(input.tools) && input.tools.length > 0) {
    tools = copier.full ? null : (copier.copy(input.tools, 1) as unknown[]);
    if (tools === null) copier.cut = true;
  }
  const doc: Doc = { messages, tools, response };
  for (const path of policy.paths) redactPath(doc, path);
  if (policy.patterns.length > 0) redactStrings(doc, policy.patterns);
  const fitted = fitToCap(doc, policy.maxBytes);
  return {
    version: input.version,
    messages: fitted.doc.messages,
    tools: fitted.doc.tools,
    response: fitted.doc.response,
    truncated: copier.cut || input.answer.truncated === true || fitted.cut,
    bytes: fitted.bytes,
  };
}

/** Deep copies JSON values with strings cleaned and cut, and a running size budget. */
class Copier {
  size = 0;
  cut = false;
  constructor(
    private readonly maxString: number,
    private readonly budget: number,
  ) {}

  get full(): boolean {
    return this.size > this.budget;
  }

  answer(a: RawAnswer): Record<string, unknown> {
    const out: Record<string, unknown> = {
      role: "assistant",
      content: typeof a.content === "string" ? this.copy(a.content, 1) : null,
    };
    if (Array.isArray(a.tool_calls) && a.tool_calls.length > 0) out.tool_calls = this.copy(a.tool_calls, 1);
    if (typeof a.refusal === "string" && a.refusal !== "") out.refusal = this.copy(a.refusal, 1);
    return out;
  }

  copy(v: unknown, depth: number): unknown {
    if (typeof v === "string") {
      this.size += Math.min(v.length, this.maxString) + 2;
      return this.text(v);
    }
    if (typeof v === "number" || typeof v === "boolean" || v === null) {
      this.size += 6;
      return v;
    }
    if (depth >= MAX_DEPTH) {
      this.cut = true;
      return null;
    }
    if (Array.isArray(v)) {
      this.size += 2;
      const out: unknown[] = [];
      for (const x of v) {
        if (this.full) {
          this.cut = true;
          break;
        }
        out.push(this.copy(x, depth + 1));
      }
      return out;
    }
    if (typeof v === "object") {
      const entries: [string, unknown][] = [];
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (this.full) {
          this.cut = true;
          break;
        }
        this.size += Math.min(k.length, this.maxString) + 4;
        entries.push([this.text(k), this.copy(x, depth + 1)]);
      }
      // fromEntries defines own properties, so a `__proto__` member stays a plain member.
      return Object.fromEntries(entries);
    }
    return null;
  }

  private text(s: string): string {
    if (s.length <= this.maxString) return storable(s);
    this.cut = true;
    return storable(s.slice(0, this.maxString));
  }
}

type Container = Record<string | number, unknown>;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Replaces every value `steps` selects in `root` by `[REDACTED]`; returns how many. */
export function redactPath(root: object, steps: PathStep[]): number {
  let count = 0;
  const visit = (container: Container, key: string | number, depth: number): void => {
    const node = container[key];
    if (depth === steps.length) {
      if (node !== undefined) {
        container[key] = REDACTED;
        count++;
      }
      return;
    }
    const step = steps[depth] as PathStep;
    switch (step.kind) {
      case "key":
        if (isObject(node) && Object.hasOwn(node, step.key)) visit(node, step.key, depth + 1);
        return;
      case "index":
        if (Array.isArray(node)) {
          const i = step.index < 0 ? node.length + step.index : step.index;
          if (i >= 0 && i < node.length) visit(node as unknown as Container, i, depth + 1);
        }
        return;
      case "all":
        if (Array.isArray(node)) for (let i = 0; i < node.length; i++) visit(node as never, i, depth + 1);
        else if (isObject(node)) for (const k of Object.keys(node)) visit(node, k, depth + 1);
        return;
      case "filter":
        if (!Array.isArray(node)) return;
        for (let i = 0; i < node.length; i++) {
          const el = node[i];
          if (!isObject(el)) continue;
          const equal = el[step.key] === step.value;
          if (equal === (step.op === "==")) visit(node as never, i, depth + 1);
        }
        return;
    }
  };
  visit({ root } as Container, "root", 0);
  return count;
}

/** Applies every pattern to every string value (not keys, not `role`/`type` values). */
function redactStrings(root: Doc, patterns: RegExp[]): void {
  const apply = (s: string): string => {
    let out = s;
    for (const re of patterns) {
      re.lastIndex = 0;
      out = out.replace(re, REDACTED);
    }
    return out;
  };
  const walk = (container: Container, key: string | number): void => {
    const v = container[key];
    if (typeof v === "string") {
      if (typeof key === "string" && ENUM_KEYS.has(key)) return;
      container[key] = apply(v);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v as never, i);
    } else if (isObject(v)) {
      for (const k of Object.keys(v)) walk(v, k);
    }
  };
  walk({ root } as Container, "root");
}

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/**
 * Cuts the document to `max` bytes of JSON: first the tool definitions, then messages from the
 * end, then every string proportionally, and as a last resort everything but the answer's shape.
 */
function fitToCap(doc: Doc, max: number): { doc: Doc; bytes: number; cut: boolean } {
  let bytes = size(doc);
  if (bytes <= max) return { doc, bytes, cut: false };
  if (doc.tools !== null) {
    doc.tools = null;
    bytes = size(doc);
  }
  while (bytes > max && doc.messages.length > 1) {
    const last = doc.messages.pop();
    bytes -= size(last) + 1;
  }
  for (let round = 0; round < 4 && bytes > max; round++) {
    const ratio = Math.max(0, (max - 256) / bytes);
    shrinkStrings(doc, ratio);
    bytes = size(doc);
  }
  if (bytes > max) {
    doc.messages = [];
    doc.response = { role: "assistant", content: null };
    bytes = size(doc);
  }
  return { doc, bytes, cut: true };
}

function shrinkStrings(root: Doc, ratio: number): void {
  const walk = (container: Container, key: string | number): void => {
    const v = container[key];
    if (typeof v === "string") {
      if (typeof key === "string" && ENUM_KEYS.has(key)) return;
      if (v.length > 16) container[key] = storable(v.slice(0, Math.floor(v.length * ratio)));
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v as never, i);
    } else if (isObject(v)) {
      for (const k of Object.keys(v)) walk(v, k);
    }
  };
  walk({ root } as Container, "root");
}
