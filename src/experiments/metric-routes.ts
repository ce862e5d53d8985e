/** Admin API routes of declared metrics (and the built-in ones, which are listed but not declared). */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { type MetricService, metricCreate, metricView, pathMetric } from "./metrics.js";

export function metricRoutes(metrics: MetricService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/metrics",
      scope: "write",
      tag: "metrics",
      summary: "Declare a metric (type boolean or float; direction: whether higher or lower is better)",
      body: metricCreate,
      response: { status: 201, schema: metricView },
      handler: ({ actor, body }) => metrics.create(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/metrics",
      scope: "read",
      tag: "metrics",
      summary: "List metrics: the built-in ones (computed from calls), then the declared ones",
      response: { schema: z.object({ data: z.array(metricView) }) },
      handler: async () => ({ data: await metrics.list() }),
    }),
    defineRoute({
      method: "get",
      path: "/metrics/:name",
      scope: "read",
      tag: "metrics",
      summary: "Show a metric (declared or built-in)",
      params: pathMetric,
      response: { schema: metricView },
      handler: ({ params }) => metrics.get(params.name),
    }),
  ];
}
