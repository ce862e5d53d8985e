/**
 * Just enough PromQL reading to hold dashboards and alert rules to the metric catalog: which
 * metric names an expression selects, with which label matchers, and which labels it groups or
 * matches on. Not a full parser (Prometheus itself parses every expression in the
 * `test:prometheus` suite); it is strict instead: an unknown function or an unexpected character
 * is an error, so a typo cannot hide a metric name.
 *
 * Grafana variables (`$system`, `$__rate_interval`) may appear inside strings and range brackets.
 */

export type Matcher = { label: string; op: "=" | "!=" | "=~" | "!~"; value: string };

export type Selector = { metric: string; matchers: Matcher[] };

export type PromqlUse = {
  selectors: Selector[];
  /** Labels named in `by`, `without`, `on`, `ignoring`, `group_left` and `group_right` lists. */
  groupingLabels: string[];
  functions: string[];
};

/** Functions and aggregations the dashboards and rules may use (valid in Prometheus 2.42 and 3.x). */
export const PROMQL_FUNCTIONS = new Set([
  // aggregations
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "group",
  "topk",
  "bottomk",
  "quantile",
  "stddev",
  // functions
  "abs",
  "absent",
  "ceil",
  "changes",
  "clamp_min",
  "clamp_max",
  "delta",
  "deriv",
  "floor",
  "histogram_quantile",
  "idelta",
  "increase",
  "irate",
  "label_replace",
  "max_over_time",
  "min_over_time",
  "avg_over_time",
  "last_over_time",
  "rate",
  "resets",
  "round",
  "scalar",
  "sort_desc",
  "time",
  "timestamp",
  "vector",
]);

const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const OPERATOR_WORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

type Token =
  | { kind: "ident"; text: string; at: number }
  | { kind: "string"; text: string; at: number }
  | { kind: "number"; text: string; at: number }
  | { kind: "punct"; text: string; at: number };

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "#") {
      while (i < expr.length && expr[i] !== "\n") i++;
    } else if (c === '"' || c === "'" || c === "`") {
      const start = i++;
      let text = "";
      while (i < expr.length && expr[i] !== c) {
        if (expr[i] === "\\" && c !== "`") {
          text += expr[i + 1] ?? "";
          i += 2;
        } else text += expr[i++];
      }
      if (i >= expr.length) throw new Error(`unterminated string at ${start} in: ${expr}`);
      i++;
      out.push({ kind: "string", text, at: start });
    } else if (/[A-Za-z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[A-Za-z0-9_:]/.test(expr[i] as string)) i++;
      out.push({ kind: "ident", text: expr.slice(start, i), at: start });
    } else if (/[0-9.]/.test(c) || c === "$") {
      // Numbers, durations (5m, 1h30m) and Grafana interval variables ($__rate_interval).
      const start = i++;
      while (i < expr.length && /[A-Za-z0-9_.]/.test(expr[i] as string)) i++;
      out.push({ kind: "number", text: expr.slice(start, i), at: start });
    } else {
      const two = expr.slice(i, i + 2);
      if (["==", "!=", "<=", ">=", "=~", "!~"].includes(two)) {
        out.push({ kind: "punct", text: two, at: i });
        i += 2;
      } else if ("(){}[],+-*/%^<>=:@".includes(c)) {
        out.push({ kind: "punct", text: c, at: i });
        i++;
      } else {
        throw new Error(`unexpected character '${c}' at ${i} in: ${expr}`);
      }
    }
  }
  return out;
}

/** Metric selectors, grouping labels and functions of one expression. */
export function analyze(expr: string): PromqlUse {
  const t = tokenize(expr);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const functions: string[] = [];
  const fail = (msg: string, at: number): never => {
    throw new Error(`${msg} at ${at} in: ${expr}`);
  };
  let i = 0;
  const peek = (k = 0) => t[i + k];
  const readMatchers = (): Matcher[] => {
    const matchers: Matcher[] = [];
    i++; // {
    while (peek() && peek()?.text !== "}") {
      const label = peek();
      const op = peek(1);
      const value = peek(2);
      if (label?.kind !== "ident" || op?.kind !== "punct" || value?.kind !== "string")
        fail("malformed label matcher", label?.at ?? expr.length);
      if (!["=", "!=", "=~", "!~"].includes(op?.text ?? ""))
        fail(`bad matcher operator '${op?.text}'`, op?.at ?? 0);
      matchers.push({
        label: label?.text as string,
        op: op?.text as Matcher["op"],
        value: value?.text as string,
      });
      i += 3;
      if (peek()?.text === ",") i++;
    }
    if (!peek()) fail("unterminated label matchers", expr.length);
    i++; // }
    return matchers;
  };
  while (i < t.length) {
    const tok = t[i] as Token;
    if (tok.kind === "ident") {
      const next = peek(1);
      if (KEYWORDS.has(tok.text)) {
        i++;
        if (peek()?.text === "(") {
          i++;
          while (peek() && peek()?.text !== ")") {
            const l = peek();
            if (l?.kind === "ident") groupingLabels.push(l.text);
            else if (l?.text !== ",") fail("bad label list", l?.at ?? 0);
            i++;
          }
          i++;
        }
      } else if (OPERATOR_WORDS.has(tok.text)) {
        i++;
      } else if (next?.text === "(" || (next?.kind === "ident" && KEYWORDS.has(next.text))) {
        if (!PROMQL_FUNCTIONS.has(tok.text)) fail(`unknown function '${tok.text}'`, tok.at);
        functions.push(tok.text);
        i++;
      } else {
        i++;
        selectors.push({ metric: tok.text, matchers: peek()?.text === "{" ? readMatchers() : [] });
      }
    } else if (tok.text === "{") {
      fail("a selector without a metric name", tok.at);
    } else if (tok.text === "[") {
      while (peek() && peek()?.text !== "]") i++;
      i++;
    } else {
      i++;
    }
  }
  return { selectors, groupingLabels, functions };
}

/**
 * Replaces Grafana's variables with values, as Grafana does before it sends a query:
 * `$name`, `${name}` and the interval variables.
 */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare) as string;
      const v = values[name];
      if (v === undefined) throw new Error(`no value for variable $${name} in: ${expr}`);
      return v;
    },
  );
}
