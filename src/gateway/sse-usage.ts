/**
 * A pass-through tap for streamed chat completions (Server-Sent Events). Bytes go to the client
 * unchanged while the tap extracts what the event record needs: usage (from the last chunk that
 * has one), time of the first content token, whether `data: [DONE]` arrived, finish reason, model.
 *
 * The gateway always asks the upstream for `stream_options.include_usage`; when the client did not
 * ask for it, `stripUsage` removes the usage-only chunk (`"choices": []` with `usage`) so the client
 * sees the stream it asked for. Other chunks keep their `"usage": null` field: rewriting every chunk
 * would cost a re-serialization per token for no client-visible gain.
 *
 * Framing: the stream is cut into lines (LF, CRLF or CR, a terminator may straddle two chunks) and
 * into blocks ended by a blank line. eventsource-parser interprets the lines (fields, multi-line
 * data, comments, BOM); the tap only tracks where blocks start and end in the byte stream, so it can
 * drop exactly the bytes of a stripped block. Memory is bounded by one block: without stripping,
 * chunks are forwarded as they arrive and only the current partial line is kept for decoding.
 */
import { createParser, type EventSourceMessage, type EventSourceParser } from "eventsource-parser";
import { parseUsage, type Usage } from "./usage.js";

export type SseTapOptions = {
  /** Drop the usage-only chunk (the client did not ask for `include_usage`). */
  stripUsage: boolean;
  /** Clock for `firstTokenAt`; defaults to `performance.now()`. */
  now?: () => number;
  /** Largest block the tap will hold; beyond it the tap stops parsing and passes bytes through. */
  maxBlockBytes?: number;
  /**
   * Capture: accumulate the first choice's answer (content, refusal, tool calls) from the deltas,
   * up to this many characters in all; beyond, `answer.truncated` is set and the rest is ignored.
   * Off (no cost) when undefined. The forwarded bytes are the same either way.
   */
  captureMaxChars?: number;
};

/** A streamed answer put back together from its deltas (capture only). */
export type StreamedAnswer = {
  content: string | null;
  refusal: string | null;
  tool_calls: { id?: string; type: string; function: { name: string; arguments: string } }[] | null;
  truncated: boolean;
};

export type SseSummary = {
  usage: Usage | null;
  /** Clock reading when the chunk carrying the first non-empty delta arrived. */
  firstTokenAt: number | null;
  done: boolean;
  finishReason: string | null;
  model: string | null;
  /** Data events seen, `[DONE]` included. */
  events: number;
  /** Data events whose payload was not JSON (`[DONE]` excepted). */
  malformedEvents: number;
  /** An `error` object sent inside the stream, as some providers do on mid-stream failures. */
  error: unknown;
  usageStripped: boolean;
  /** Parsing was abandoned because a block exceeded `maxBlockBytes`; bytes still flowed. */
  overflow: boolean;
  /** The accumulated answer, when `captureMaxChars` was given; otherwise null. */
  answer: StreamedAnswer | null;
};

const LF = 0x0a;
const CR = 0x0d;
const DEFAULT_MAX_BLOCK = 16 * 1024 * 1024;

export class SseUsageTap {
  readonly summary: SseSummary = {
    usage: null,
    firstTokenAt: null,
    done: false,
    finishReason: null,
    model: null,
    events: 0,
    malformedEvents: 0,
    error: null,
    usageStripped: false,
    overflow: false,
    answer: null,
  };
  private readonly strip: boolean;
  private readonly now: () => number;
  private readonly maxBlock: number;
  private readonly parser: EventSourceParser;
  /** Bytes of the current line not yet terminated (may span chunks). */
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** Strip mode: bytes of the current block, held until its blank line decides its fate. */
  private block: Buffer[] = [];
  private blockBytes = 0;
  /** The current block dispatched a usage-only event. */
  private blockIsUsage = false;
  /** The previous chunk ended with CR: a leading LF in the next chunk completes that CRLF. */
  private afterCR = false;
  /** That CR ended a block, so its LF follows the block's fate (forwarded or dropped). */
  private crClosedBlock = false;
  private lastBlockDropped = false;
  private chunkTime = 0;
  private readonly acc: AnswerAccumulator | null;

  constructor(opts: SseTapOptions) {
    this.strip = opts.stripUsage;
    this.now = opts.now ?? (() => performance.now());
    this.maxBlock = opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK;
    this.parser = createParser({ onEvent: (e) => this.onEvent(e) });
    this.acc = opts.captureMaxChars === undefined ? null : new AnswerAccumulator(opts.captureMaxChars);
    if (this.acc) this.summary.answer = this.acc.answer;
  }

  /** Feeds one upstream chunk; returns the bytes to forward now (null when nothing). */
  push(chunk: Buffer): Buffer | null {
    if (chunk.length === 0) return null;
    if (this.summary.overflow) return chunk;
    this.chunkTime = this.now();
    const out: Buffer[] = [];
    let start = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (chunk[0] === LF) {
        // The LF belongs to the CRLF whose CR ended the previous chunk.
        if (this.strip) {
          if (!this.crClosedBlock) this.hold(chunk.subarray(0, 1));
          else if (!this.lastBlockDropped) out.push(chunk.subarray(0, 1));
        }
        start = 1;
      }
    }
    let segStart = start;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i];
      if (c !== LF && c !== CR) continue;
      let end = i + 1;
      if (c === CR) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) end = i + 2;
        } else {
          this.afterCR = true;
        }
      }
      this.endLine(chunk, segStart, i, end, out);
      segStart = end;
      i = end - 1;
    }
    if (segStart < chunk.length) {
      const rest = chunk.subarray(segStart);
      this.line.push(rest);
      this.lineBytes += rest.length;
      if (this.strip) this.hold(rest);
    }
    if ((this.strip ? this.blockBytes : this.lineBytes) > this.maxBlock) return this.giveUp(chunk, out);
    if (!this.strip) return chunk;
    if (out.length === 0) return null;
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** Ends the stream: returns held bytes (an unterminated last block passes through unchanged). */
  end(): Buffer | null {
    // An unterminated last line cannot complete an event (that needs a blank line after it).
    this.line = [];
    this.lineBytes = 0;
    this.parser.reset();
    if (!this.strip || this.blockBytes === 0) return null;
    const rest = Buffer.concat(this.block);
    this.block = [];
    this.blockBytes = 0;
    return rest;
  }

  private hold(bytes: Buffer) {
    this.block.push(bytes);
    this.blockBytes += bytes.length;
  }

  /** A line ends at `lineEnd` (exclusive); its terminator ends at `termEnd`. */
  private endLine(chunk: Buffer, segStart: number, lineEnd: number, termEnd: number, out: Buffer[]) {
    let text: string;
    if (this.lineBytes === 0) {
      text = chunk.toString("utf8", segStart, lineEnd);
    } else {
      this.line.push(chunk.subarray(segStart, lineEnd));
      text = Buffer.concat(this.line).toString("utf8");
      this.line = [];
      this.lineBytes = 0;
    }
    if (this.strip) this.hold(chunk.subarray(segStart, termEnd));
    // The parser sees every line LF-terminated, so a block's event is dispatched exactly when its
    // blank line is fed, whatever terminators the upstream used.
    this.parser.feed(`${text}\n`);
    const closesWithCR = this.afterCR && termEnd === chunk.length;
    if (text.length > 0) {
      this.crClosedBlock = false;
      return;
    }
    if (this.strip) {
      const drop = this.blockIsUsage;
      if (drop) this.summary.usageStripped = true;
      else out.push(...this.block);
      this.lastBlockDropped = drop;
      this.block = [];
      this.blockBytes = 0;
    }
    this.crClosedBlock = closesWithCR;
    this.blockIsUsage = false;
  }

  /** A block too large to hold: forward everything held and stop parsing for good. */
  private giveUp(chunk: Buffer, out: Buffer[]): Buffer | null {
    this.summary.overflow = true;
    this.parser.reset();
    this.line = [];
    this.lineBytes = 0;
    const held = this.block;
    this.block = [];
    this.blockBytes = 0;
    if (!this.strip) return chunk;
    out.push(...held);
    return out.length === 0 ? null : Buffer.concat(out);
  }

  private onEvent(event: EventSourceMessage) {
    const s = this.summary;
    s.events++;
    if (event.data === "[DONE]") {
      s.done = true;
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(event.data);
    } catch {
      s.malformedEvents++;
      return;
    }
    if (typeof payload !== "object" || payload === null) {
      s.malformedEvents++;
      return;
    }
    const p = payload as Record<string, unknown>;
    if (s.model === null && typeof p.model === "string") s.model = p.model;
    if (p.error !== undefined && p.error !== null) s.error = p.error;
    const usage = p.usage != null ? parseUsage(p.usage) : null;
    if (usage) s.usage = usage;
    const choices = p.choices;
    if (!Array.isArray(choices)) return;
    if (choices.length === 0 && usage) {
      this.blockIsUsage = true;
      return;
    }
    for (const choice of choices) {
      if (typeof choice !== "object" || choice === null) continue;
      const c = choice as Record<string, unknown>;
      if (typeof c.finish_reason === "string") s.finishReason = c.finish_reason;
      if (s.firstTokenAt === null && hasContent(c.delta)) s.firstTokenAt = this.chunkTime;
      if (this.acc && (c.index === 0 || c.index === undefined)) this.acc.add(c.delta);
    }
  }
}

/** A delta carries output when it has text, a refusal, reasoning, or a tool/function call. */
function hasContent(delta: unknown): boolean {
  if (typeof delta !== "object" || delta === null) return false;
  const d = delta as Record<string, unknown>;
  for (const key of ["content", "refusal", "reasoning_content", "reasoning"]) {
    const v = d[key];
    if (typeof v === "string" && v.length > 0) return true;
  }
  if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) return true;
  return typeof d.function_call === "object" && d.function_call !== null;
}

/** Puts the first choice's answer back together from its deltas, up to a character budget. */
class AnswerAccumulator {
  readonly answer: StreamedAnswer = { content: null, refusal: null, tool_calls: null, truncated: false };
  private left: number;
  /** Tool calls by their `index` in the deltas. */
  private readonly calls = new Map<number, NonNullable<StreamedAnswer["tool_calls"]>[number]>();

  constructor(maxChars: number) {
    this.left = maxChars;
  }

  add(delta: unknown): void {
    if (typeof delta !== "object" || delta === null || this.answer.truncated) return;
    const d = delta as Record<string, unknown>;
    const a = this.answer;
    if (typeof d.content === "string" && d.content !== "")
      a.content = (a.content ?? "") + this.take(d.content);
    if (typeof d.refusal === "string" && d.refusal !== "")
      a.refusal = (a.refusal ?? "") + this.take(d.refusal);
    if (!Array.isArray(d.tool_calls)) return;
    for (const raw of d.tool_calls) {
      if (typeof raw !== "object" || raw === null) continue;
      const t = raw as { index?: unknown; id?: unknown; type?: unknown; function?: Record<string, unknown> };
      const index = typeof t.index === "number" ? t.index : this.calls.size;
      let call = this.calls.get(index);
      if (!call) {
        call = { type: "function", function: { name: "", arguments: "" } };
        this.calls.set(index, call);
        a.tool_calls = [...this.calls.entries()].sort(([x], [y]) => x - y).map(([, c]) => c);
      }
      if (typeof t.id === "string") call.id = this.take(t.id);
      if (typeof t.type === "string") call.type = t.type;
      const fn = t.function;
      if (fn && typeof fn.name === "string") call.function.name += this.take(fn.name);
      if (fn && typeof fn.arguments === "string") call.function.arguments += this.take(fn.arguments);
    }
  }

  /** What fits of `s` in the budget; marks the answer truncated when it does not all fit. */
  private take(s: string): string {
    if (s.length <= this.left) {
      this.left -= s.length;
      return s;
    }
    const part = s.slice(0, this.left);
    this.left = 0;
    this.answer.truncated = true;
    return part;
  }
}
