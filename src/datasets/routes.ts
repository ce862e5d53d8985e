/** Admin API routes of datasets: build (from captures), list, show, download. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import { datasetCreate, datasetView, downloadQuery, listQuery, pathDataset } from "./schemas.js";
import type { DatasetService } from "./service.js";

export function datasetRoutes(datasets: DatasetService): RouteSpec[] {
  return [
    defineRoute({
      method: "post",
      path: "/datasets",
      scope: "write",
      tag: "datasets",
      summary:
        "Build a fine-tuning dataset from captured calls of one or several agents (per-agent files or one global file), filtered, de-duplicated and validated",
      body: datasetCreate,
      response: {
        status: 201,
        schema: datasetView,
        description:
          "Stored, with its content hash, counts, token statistics and the drop report. 422 insufficient_examples when a file would hold fewer than 10 examples (the message carries the drop report).",
      },
      handler: ({ actor, body }) => datasets.create(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/datasets",
      scope: "read",
      tag: "datasets",
      summary: "List datasets, newest first",
      query: listQuery,
      response: { schema: z.object({ data: z.array(datasetView), next_before: z.number().nullable() }) },
      handler: async ({ query }) => {
        const data = await datasets.list(query);
        return { data, next_before: data.length === query.limit ? (data.at(-1)?.id ?? null) : null };
      },
    }),
    defineRoute({
      method: "get",
      path: "/datasets/:id",
      scope: "read",
      tag: "datasets",
      summary: "Show a dataset: options, filters, files, counts, token statistics, drop report",
      params: pathDataset,
      response: { schema: datasetView },
      handler: ({ params }) => datasets.get(params.id),
    }),
    defineRoute({
      method: "get",
      path: "/datasets/:id/download",
      scope: "read",
      tag: "datasets",
      summary:
        "Download a dataset's JSONL (one agent's file with ?agent= for a per-agent dataset of several agents); its SHA-256 is in x-agentgate-sha256",
      params: pathDataset,
      query: downloadQuery,
      response: { schema: z.string(), contentType: "application/jsonl" },
      handler: async ({ params, query, res }) => {
        const f = await datasets.file(params.id, query.agent);
        res.status(200);
        res.setHeader("content-type", "application/jsonl; charset=utf-8");
        res.setHeader("content-disposition", `attachment; filename="${f.filename}"`);
        res.setHeader("x-agentgate-sha256", f.sha256);
        res.setHeader("etag", `"${f.sha256}"`);
        res.send(Buffer.from(f.content, "utf8"));
        return undefined;
      },
    }),
  ];
}
