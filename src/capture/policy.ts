/**
 * What capture settings mean and how they are checked: the redaction path syntax, the regular
 * expression rules, and the compiled policy the routing table carries to the proxy.
 *
 * **Paths** select values in the captured document `{messages, tools, response}` (`messages` and
 * `tools` as the client sent them, `response` the assistant message). Nothing else of the request
 * is stored, so a path into another request field (e.g. `$.user`) is accepted but matches nothing.
 * Syntax (a subset of JSONPath, RFC 9535):
 *
 *     path    := ["$"] step*          the first step may omit its dot: `messages[*].content`
 *     step    := "." name | ".*" | "[*]" | "[" int "]" | "['" name "']" | '["' name '"]'
 *              | "[?(@." name op literal ")]"          op: == or !=
 *     literal := 'text' | "text" | number | true | false | null
 *
 * `[n]` counts from the end when negative (`messages[-1]`), `*` selects every element or member,
 * a filter keeps the array elements whose member compares as given
 * (`messages[?(@.role=="user")].content`). Each selected value is replaced, whatever its type, by
 * the string `[REDACTED]`; select leaves (a `content`, an `arguments`), not whole messages — a
 * message replaced by a string is no longer a message, and datasets drop such examples.
 *
 * **Patterns** are JavaScript regular expressions (a leading `(?i)` makes one case-insensitive),
 * applied to every string value of the document except the protocol's enumerations (`role` and
 * `type` members); each match becomes `[REDACTED]`. JavaScript has no regex timeout, so the guards
 * are structural: at most 32 patterns of at most 256 characters; a pattern must not match the
 * empty string and must not nest an unbounded quantifier inside a repeated group (`(a+)+`,
 * `(\w*)*`, the classic catastrophic-backtracking shape); and no pattern ever sees a string longer
 * than the capture's byte cap plus 1 KiB (longer strings are cut first; a cut capture is marked
 * truncated). Overlapping alternations under a repetition (`(a|a)*`) are not detected.
 */
import type { Knex } from "knex";
import { z } from "zod";

export const REDACTED = "[REDACTED]";
export const DEFAULT_MAX_BYTES = 256 * 1024;
export const DEFAULT_RETENTION_DAYS = 30;
export const MAX_PATHS = 32;
export const MAX_PATTERNS = 32;
const MAX_PATH_LENGTH = 256;
const MAX_PATH_STEPS = 16;
const MAX_PATTERN_LENGTH = 256;

export type PathStep =
  | { kind: "key"; key: string }
  | { kind: "index"; index: number }
  | { kind: "all" }
  | { kind: "filter"; key: string; op: "==" | "!="; value: string | number | boolean | null };

/** The compiled capture policy of one agent, as the routing table holds it. */
export type CapturePolicy = {
  maxBytes: number;
  paths: PathStep[][];
  patterns: RegExp[];
};

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*/;

function literal(lit: string): string | number | boolean | null {
  if (lit.startsWith("'") || lit.startsWith('"')) return lit.slice(1, -1);
  if (lit === "true" || lit === "false") return lit === "true";
  if (lit === "null") return null;
  return Number(lit);
}

/** One step's syntax and what it means; tried in order. */
const STEPS: ReadonlyArray<readonly [RegExp, (m: RegExpExecArray) => PathStep]> = [
  [/^\.\*/, () => ({ kind: "all" })],
  [/^\.([A-Za-z_][A-Za-z0-9_-]*)/, (m) => ({ kind: "key", key: m[1] as string })],
  [/^\[\*\]/, () => ({ kind: "all" })],
  [/^\[(-?\d{1,9})\]/, (m) => ({ kind: "index", index: Number(m[1]) })],
  [/^\['([^']*)'\]/, (m) => ({ kind: "key", key: m[1] as string })],
  [/^\["([^"]*)"\]/, (m) => ({ kind: "key", key: m[1] as string })],
  [
    /^\[\?\(@\.([A-Za-z_][A-Za-z0-9_-]*)\s*(==|!=)\s*('[^'\\]*'|"[^"\\]*"|-?\d+(?:\.\d+)?|true|false|null)\s*\)\]/,
    (m) => ({
      kind: "filter",
      key: m[1] as string,
      op: m[2] as "==" | "!=",
      value: literal(m[3] as string),
    }),
  ],
];

/** Parses a redaction path; throws an `Error` whose message says what is wrong. */
export function parsePath(source: string): PathStep[] {
  if (source.length === 0) throw new Error("must not be empty");
  if (source.length > MAX_PATH_LENGTH) throw new Error(`must be at most ${MAX_PATH_LENGTH} characters`);
  const steps: PathStep[] = [];
  let rest = source;
  if (rest.startsWith("$")) rest = rest.slice(1);
  else {
    const m = NAME.exec(rest);
    if (!m) throw new Error("must start with '$' or a member name");
    steps.push({ kind: "key", key: m[0] });
    rest = rest.slice(m[0].length);
  }
  while (rest.length > 0) {
    let matched = false;
    for (const [re, step] of STEPS) {
      const m = re.exec(rest);
      if (!m) continue;
      steps.push(step(m));
      rest = rest.slice(m[0].length);
      matched = true;
      break;
    }
    if (!matched) {
      throw new Error(
        `unexpected '${rest.slice(0, 20)}': expected .name, .*, [*], [n], ['name'] or [?(@.name=="value")]`,
      );
    }
    if (steps.length > MAX_PATH_STEPS) throw new Error(`must have at most ${MAX_PATH_STEPS} steps`);
  }
  if (steps.length === 0) throw new Error("must select something below '$'");
  return steps;
}

/**
 * Compiles a redaction pattern (global; case-insensitive with a leading `(?i)`); throws an `Error`
 * saying why a pattern is refused.
 */
export function compilePattern(source: string): RegExp {
  if (source.length === 0) throw new Error("must not be empty");
  if (source.length > MAX_PATTERN_LENGTH) throw new Error(`must be at most ${MAX_PATTERN_LENGTH} characters`);
  const insensitive = source.startsWith("(?i)");
  const body = insensitive ? source.slice(4) : source;
  let re: RegExp;
  try {
    re = new RegExp(body, insensitive ? "gi" : "g");
  } catch (err) {
    throw new Error(`does not compile: ${(err as Error).message}`);
  }
  if (nestedQuantifier(body)) {
    throw new Error(
      "repeats a group that itself contains an unbounded quantifier (e.g. '(a+)+'), which can backtrack catastrophically",
    );
  }
  re.lastIndex = 0;
  if (re.test("")) throw new Error("must not match the empty string");
  re.lastIndex = 0;
  return re;
}

/**
 * Whether a repeated group (`(...)*`, `(...)+`, `(...){n,}`) contains an unbounded quantifier.
 * A scan of the pattern text: escapes and character classes are skipped, groups are tracked on a
 * stack.
 */
function nestedQuantifier(src: string): boolean {
  // Per open group: whether it contains an unbounded quantifier.
  const stack: boolean[] = [false];
  const unboundedAt = (i: number): number => {
    const c = src[i];
    if (c === "*" || c === "+") return 1;
    if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (m && m[2] !== undefined && (m[3] === "" || Number(m[3]) > 1)) return m[0].length;
    }
    return 0;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "[") {
      for (i++; i < src.length && src[i] !== "]"; i++) if (src[i] === "\\") i++;
      continue;
    }
    if (c === "(") {
      stack.push(false);
      continue;
    }
    if (c === ")") {
      const inner = stack.pop() ?? false;
      if (stack.length === 0) stack.push(false);
      const repeated = unboundedAt(i + 1) > 0;
      if (repeated && inner) return true;
      if (inner || repeated) stack[stack.length - 1] = true;
      continue;
    }
    if (unboundedAt(i) > 0) stack[stack.length - 1] = true;
  }
  return false;
}

const field = (max: number, what: string) =>
  z
    .array(z.string({ error: `must be a list of ${what}` }), { error: `must be a list of ${what}` })
    .max(max, `must have at most ${max} ${what}`);

/** `PUT .../capture`: the whole setting (fields left out take their defaults). */
export const captureSet = z
  .strictObject({
    enabled: z.boolean({ error: "must be true or false" }),
    max_bytes: z
      .number({ error: "must be a number of bytes" })
      .int("must be an integer")
      .min(1024, "must be at least 1024")
      .max(8 * 1024 * 1024, "must be at most 8388608 (8 MiB)")
      .default(DEFAULT_MAX_BYTES),
    redact_paths: field(MAX_PATHS, "paths").default([]),
    redact_patterns: field(MAX_PATTERNS, "patterns").default([]),
    retention_days: z
      .number({ error: "must be a number of days" })
      .int("must be an integer")
      .min(1, "must be at least 1")
      .max(3650, "must be at most 3650")
      .default(DEFAULT_RETENTION_DAYS),
    reason: z.string().max(2000, "must be at most 2000 characters").nullish(),
  })
  .superRefine((b, ctx) => {
    b.redact_paths.forEach((p, i) => {
      try {
        parsePath(p);
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["redact_paths", i], message: (err as Error).message });
      }
    });
    b.redact_patterns.forEach((p, i) => {
      try {
        compilePattern(p);
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["redact_patterns", i], message: (err as Error).message });
      }
    });
  });

export type CaptureSet = z.infer<typeof captureSet>;

export const captureView = z.object({
  system: z.string(),
  agent: z.string(),
  enabled: z.boolean(),
  max_bytes: z.number(),
  redact_paths: z.array(z.string()),
  redact_patterns: z.array(z.string()),
  retention_days: z.number(),
  /** Captures currently stored for the agent. */
  stored: z.number(),
  updated_by: z.string().nullable(),
  updated_at: z.string().nullable(),
});
export type CaptureView = z.infer<typeof captureView>;

/** Compiles stored settings; null when they no longer compile (the agent is then not captured). */
export function compilePolicy(row: {
  max_bytes: number;
  redact_paths: unknown;
  redact_patterns: unknown;
}): CapturePolicy | null {
  try {
    const paths = (row.redact_paths as string[]).map(parsePath);
    const patterns = (row.redact_patterns as string[]).map(compilePattern);
    return { maxBytes: row.max_bytes, paths, patterns };
  } catch {
    return null;
  }
}

/** Enabled agents' compiled policies by agent id, for the routing table snapshot. */
export async function loadCapturePolicies(q: Knex | Knex.Transaction): Promise<Map<number, CapturePolicy>> {
  const rows: { agent_id: number; max_bytes: number; redact_paths: unknown; redact_patterns: unknown }[] =
    await q("capture_settings")
      .where({ enabled: true })
      .select("agent_id", "max_bytes", "redact_paths", "redact_patterns");
  const out = new Map<number, CapturePolicy>();
  for (const r of rows) {
    const policy = compilePolicy(r);
    if (policy) out.set(r.agent_id, policy);
  }
  return out;
}
