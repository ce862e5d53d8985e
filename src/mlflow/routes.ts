/** Admin API routes of MLflow sync: run one, and read which MLflow model version mirrors each version. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { linksQuery, linkView, syncReport, syncRequest } from "./report.js";
import type { MlflowSyncService } from "./sync.js";

export function mlflowRoutes(sync: MlflowSyncService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/mlflow/sync",
      scope: "write",
      tag: "mlflow",
      summary:
        "Mirror agents, versions and the champion/challenger aliases to the MLflow Model Registry (push), import versions registered there (pull), or both; dry_run reports without changing anything",
      body: syncRequest.default({ direction: "both", dry_run: false }),
      response: {
        schema: syncReport,
        description:
          "What was created, updated, deleted, left unchanged, skipped (with the reason) or failed, per object. 409 mlflow_not_configured without MLFLOW_TRACKING_URI; 502 mlflow_unavailable / 504 mlflow_timeout when MLflow cannot be reached or refuses the credentials; 409 mlflow_sync_running while another sync runs.",
      },
      handler: ({ actor, body }) => sync.sync(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/mlflow/links",
      scope: "read",
      tag: "mlflow",
      summary:
        "Which MLflow registered model and model version mirror each agentgate version (of one agent, one system, or all), as recorded by sync",
      query: linksQuery,
      response: { schema: z.object({ data: z.array(linkView) }) },
      handler: async ({ query }) => ({ data: await sync.links(query) }),
    }),
  ];
}
