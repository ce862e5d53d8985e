/** Admin API routes of experiments: definition and lifecycle. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import * as s from "./schemas.js";
import type { ExperimentService } from "./service.js";

export function experimentRoutes(experiments: ExperimentService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/experiments",
      scope: "write",
      tag: "experiments",
      summary: "Define an experiment (agent-scoped with `agent`, else system-scoped)",
      body: s.experimentCreate,
      response: { status: 201, schema: s.experimentView },
      handler: ({ actor, body }) => experiments.create(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/experiments",
      scope: "read",
      tag: "experiments",
      summary: "List experiments, newest first",
      query: s.listQuery,
      response: { schema: z.object({ data: z.array(s.experimentView) }) },
      handler: async ({ query }) => ({ data: await experiments.list(query) }),
    }),
    defineRoute({
      method: "get",
      path: "/experiments/:id",
      scope: "read",
      tag: "experiments",
      summary: "Show an experiment",
      params: s.pathExperiment,
      response: { schema: s.experimentView },
      handler: ({ params }) => experiments.get(params.id),
    }),
    defineRoute({
      method: "post",
      path: "/experiments/:id/start",
      scope: "write",
      tag: "experiments",
      summary: "Start (or resume) an experiment: its arms start receiving traffic",
      params: s.pathExperiment,
      response: { schema: s.experimentView },
      handler: ({ actor, params }) => experiments.start(actor, params.id),
    }),
    defineRoute({
      method: "post",
      path: "/experiments/:id/pause",
      scope: "write",
      tag: "experiments",
      summary: "Pause an experiment: traffic returns to the champions, assignments are kept",
      params: s.pathExperiment,
      response: { schema: s.experimentView },
      handler: ({ actor, params }) => experiments.pause(actor, params.id),
    }),
    defineRoute({
      method: "post",
      path: "/experiments/:id/stop",
      scope: "write",
      tag: "experiments",
      summary: "Stop an experiment for good",
      params: s.pathExperiment,
      body: s.stopBody,
      response: { schema: s.experimentView },
      handler: ({ actor, params, body }) => experiments.stop(actor, params.id, body.reason),
    }),
  ];
}
