/** Admin API routes of capture settings: `GET|PUT /systems/{system}/agents/{agent}/capture`. */
import { defineRoute, type RouteSpec } from "../http/route.js";
import { pathAgent } from "../registry/schemas.js";
import { captureSet, captureView } from "./policy.js";
import type { CaptureService } from "./service.js";

const PATH = "/systems/:system/agents/:agent/capture";

export function captureRoutes(capture: CaptureService): RouteSpec[] {
  return [
    defineRoute({
      method: "get",
      path: PATH,
      scope: "read",
      tag: "capture",
      summary: "Show an agent's capture settings (off unless set) and how many captures are stored",
      params: pathAgent,
      response: { schema: captureView },
      handler: ({ params }) => capture.get(params.system, params.agent),
    }),
    defineRoute({
      method: "put",
      path: PATH,
      scope: "write",
      tag: "capture",
      summary:
        "Set an agent's capture of calls: on/off, byte cap per call, redaction paths and patterns, retention in days",
      params: pathAgent,
      body: captureSet,
      response: { schema: captureView },
      handler: ({ actor, params, body }) => capture.set(actor, params.system, params.agent, body),
    }),
  ];
}
