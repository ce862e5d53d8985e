/**
 * Metrics an experiment can be judged on. Two kinds:
 * - **declared** metrics (name, type, direction): their values arrive as feedback, for a call or
 *   for a workflow run;
 * - **built-in** metrics, computed from the inference events. They are never declared, and their
 *   names are reserved.
 *
 * `resolveMetric` answers "what is this name?" for both kinds; experiments, reports and guardrails
 * use it, so every place agrees on which names exist.
 */
import type { Knex } from "knex";
import { z } from "zod";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound, uniqueName } from "../errors.js";
import { iso } from "../registry/lookup.js";
import { nameSchema } from "../registry/names.js";

export const METRIC_TYPES = ["boolean", "float"] as const;
export const DIRECTIONS = ["higher", "lower"] as const;
export type MetricType = (typeof METRIC_TYPES)[number];
export type Direction = (typeof DIRECTIONS)[number];

/** A built-in metric: what it measures, from which event field, at which level. */
export type BuiltInMetric = {
  name: string;
  type: MetricType;
  direction: Direction;
  /** `call`: one value per proxied call (aggregated per unit as a ratio when units are sessions). */
  level: "call";
  description: string;
};

/** The metrics every report computes from the calls themselves; names as they appear in reports. */
export const builtInMetrics: readonly BuiltInMetric[] = [
  {
    name: "error_rate",
    type: "boolean",
    direction: "lower",
    level: "call",
    description: "share of calls answered 5xx/429 or rescued by a fallback (the arm's own version failed)",
  },
  {
    name: "latency_geomean_ms",
    type: "float",
    direction: "lower",
    level: "call",
    description: "geometric mean of call latency in milliseconds (compared as log-latency means)",
  },
  {
    name: "latency_p95_ms",
    type: "float",
    direction: "lower",
    level: "call",
    description: "95th percentile of call latency in milliseconds",
  },
  {
    name: "cost_usd_per_call",
    type: "float",
    direction: "lower",
    level: "call",
    description: "cost of a call in US dollars, from the price table (over calls with a known price)",
  },
  {
    name: "tokens_per_call",
    type: "float",
    direction: "lower",
    level: "call",
    description: "prompt + completion tokens of a call",
  },
  {
    name: "cost_usd_per_run",
    type: "float",
    direction: "lower",
    level: "call",
    description: "cost of a workflow run (all its calls) in US dollars",
  },
  {
    name: "latency_ms_per_run",
    type: "float",
    direction: "lower",
    level: "call",
    description: "summed latency of a workflow run's calls in milliseconds",
  },
];

const BUILT_IN = new Map(builtInMetrics.map((m) => [m.name, m]));
export const isBuiltInMetric = (name: string) => BUILT_IN.has(name);

export const metricCreate = z.strictObject({
  name: nameSchema.refine(
    (n) => !BUILT_IN.has(n),
    `is reserved for a built-in metric (${builtInMetrics.map((m) => m.name).join(", ")})`,
  ),
  type: z.enum(METRIC_TYPES, { error: `must be one of ${METRIC_TYPES.join(", ")}` }),
  direction: z.enum(DIRECTIONS, {
    error: `must be one of ${DIRECTIONS.join(", ")} (which values are better)`,
  }),
  description: z.string().max(2000, "must be at most 2000 characters").nullish(),
});

export const metricView = z.object({
  name: z.string(),
  type: z.enum(METRIC_TYPES),
  direction: z.enum(DIRECTIONS),
  description: z.string().nullable(),
  /** Computed from events (not declared, takes no feedback). */
  built_in: z.boolean(),
  created_by: z.string().nullable(),
  created_at: z.string().nullable(),
});

export const pathMetric = z.object({ name: nameSchema });

export type MetricCreate = z.infer<typeof metricCreate>;
export type MetricView = z.infer<typeof metricView>;

type MetricRow = {
  name: string;
  type: MetricType;
  direction: Direction;
  description: string | null;
  created_by: string;
  created_at: Date;
};

const presentDeclared = (r: MetricRow): MetricView => ({
  name: r.name,
  type: r.type,
  direction: r.direction,
  description: r.description,
  built_in: false,
  created_by: r.created_by,
  created_at: iso(r.created_at),
});

const presentBuiltIn = (m: BuiltInMetric): MetricView => ({
  name: m.name,
  type: m.type,
  direction: m.direction,
  description: m.description,
  built_in: true,
  created_by: null,
  created_at: null,
});

/** How to declare a metric, for error messages. */
export const DECLARE_HINT =
  "declare it first: POST /api/v1/metrics {name, type, direction} or `agentgate metrics create <name> --type boolean|float --direction higher|lower`";

/** A declared or built-in metric by name, or null when the name is neither. */
export async function resolveMetric(q: Knex | Knex.Transaction, name: string): Promise<MetricView | null> {
  const builtIn = BUILT_IN.get(name);
  if (builtIn) return presentBuiltIn(builtIn);
  const row = await q("metrics").where({ name }).first();
  return row ? presentDeclared(row) : null;
}

/** The declared metric `name` (not a built-in), or null. */
export async function findDeclaredMetric(
  q: Knex | Knex.Transaction,
  name: string,
): Promise<MetricView | null> {
  const row = await q("metrics").where({ name }).first();
  return row ? presentDeclared(row) : null;
}

/**
 * Throws a 400 naming the first metric an experiment refers to that is neither declared nor
 * built in. `refs` pairs each name with the request field that holds it.
 */
export async function assertKnownMetrics(
  q: Knex | Knex.Transaction,
  refs: ReadonlyArray<readonly [field: string, name: string]>,
): Promise<void> {
  const declared = refs.map(([, n]) => n).filter((n) => !BUILT_IN.has(n));
  const found = new Set<string>(
    declared.length
      ? await q("metrics")
          .whereIn("name", [...new Set(declared)])
          .pluck("name")
      : [],
  );
  for (const [field, name] of refs) {
    if (!BUILT_IN.has(name) && !found.has(name)) {
      throw new AppError(
        "invalid_request",
        `${field}: unknown metric '${name}': ${DECLARE_HINT}, or use a built-in metric (${builtInMetrics.map((m) => m.name).join(", ")})`,
        field,
      );
    }
  }
}

export class MetricService {
  constructor(private readonly db: Knex) {}

  async create(actor: Actor, input: MetricCreate): Promise<MetricView> {
    return uniqueName("metric", input.name, () =>
      this.db.transaction(async (trx) => {
        const [row] = await trx("metrics")
          .insert({
            name: input.name,
            type: input.type,
            direction: input.direction,
            description: input.description ?? null,
            created_by: actor.name,
          })
          .returning("*");
        const view = presentDeclared(row);
        await recordAudit(trx, {
          actor: actor.name,
          action: "metric.create",
          objectType: "metric",
          objectKey: input.name,
          after: {
            name: view.name,
            type: view.type,
            direction: view.direction,
            description: view.description,
          },
        });
        return view;
      }),
    );
  }

  /** Built-in metrics first, then the declared ones by name. */
  async list(): Promise<MetricView[]> {
    const rows: MetricRow[] = await this.db("metrics").orderBy("name");
    return [...builtInMetrics.map(presentBuiltIn), ...rows.map(presentDeclared)];
  }

  async get(name: string): Promise<MetricView> {
    const m = await resolveMetric(this.db, name);
    if (!m) throw notFound("metric_not_found", `metric '${name}'`);
    return m;
  }

  resolve(name: string): Promise<MetricView | null> {
    return resolveMetric(this.db, name);
  }
}
