/** Admin API routes for deciding: the report and promotion. */

import type { Knex } from "knex";
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../../http/route.js";
import { nameSchema } from "../../registry/names.js";
import type { PromotionService } from "../promote.js";
import { pathExperiment } from "../schemas.js";
import type { ExperimentService } from "../service.js";
import { buildReport, DEFAULT_REPORT_OPTIONS } from "./report.js";

const reportQuery = z.strictObject({
  alpha: z.coerce.number().gt(0).lt(0.5).default(DEFAULT_REPORT_OPTIONS.alpha),
  mde: z.coerce
    .number()
    .gt(0)
    .max(10)
    .default(DEFAULT_REPORT_OPTIONS.mde)
    .describe("minimum detectable effect, relative (0.05 = 5%)"),
  power: z.coerce.number().gt(0.5).lt(1).default(DEFAULT_REPORT_OPTIONS.power),
  evaluation_cost_usd: z.coerce
    .number()
    .min(0)
    .default(0)
    .describe("one-off evaluation cost added to the ROI's training cost"),
});

const promoteBody = z.strictObject({
  arm: nameSchema,
  force: z.boolean().default(false),
  reason: z.string().max(2000).nullish(),
});

export function decisionRoutes(
  db: Knex,
  experiments: ExperimentService,
  promotion: PromotionService,
): RouteSpec[] {
  return [
    defineRoute({
      method: "get",
      path: "/experiments/:id/report",
      scope: "read",
      tag: "experiments",
      summary: "Per-arm statistics, comparisons against control, SRM, power and ROI",
      params: pathExperiment,
      query: reportQuery,
      response: { schema: z.record(z.string(), z.unknown()) },
      handler: async ({ params, query }) =>
        buildReport(db, await experiments.get(params.id), {
          ...DEFAULT_REPORT_OPTIONS,
          alpha: query.alpha,
          mde: query.mde,
          power: query.power,
          evaluationCostUsd: query.evaluation_cost_usd,
        }),
    }),
    defineRoute({
      method: "post",
      path: "/experiments/:id/promote",
      scope: "write",
      tag: "experiments",
      summary:
        "Make an arm's versions the champions and conclude the experiment (refused on SRM unless forced)",
      params: pathExperiment,
      body: promoteBody,
      response: { schema: z.record(z.string(), z.unknown()) },
      handler: ({ actor, params, body }) => promotion.promote(actor, params.id, body),
    }),
  ];
}
