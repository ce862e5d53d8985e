/**
 * Push: one agent's registered model, its versions and the `champion` / `challenger` aliases,
 * made to match agentgate. Re-runnable: an agentgate version already mirrored is found through its
 * link, else through the `agentgate.version` tag on an MLflow version (a previous push whose link
 * was not saved), else through its lineage (a version imported from MLflow); only then is a
 * model version created. Tags are set only where they differ; aliases only move when wrong.
 * Other tags and aliases on the MLflow side are left alone.
 */
import type { Knex } from "knex";
import type { VersionView } from "../registry/schemas.js";
import type { VersionService } from "../registry/versions.js";
import type { MlflowClient, ModelVersion, RegisteredModel } from "./client.js";
import { describeObjectError, isMlflowAlreadyExists, isMlflowNotFound, isObjectError } from "./errors.js";
import { allOf } from "./filter.js";
import {
  agentTags,
  asTagList,
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  changedTags,
  TAG,
  versionSource,
  versionTags,
} from "./mapping.js";
import type { ReportBuilder } from "./report.js";
import { challengerOf, type Link, linksOf, type ScopedAgent, saveLink, versionIds } from "./store.js";

export type SyncContext = {
  db: Knex;
  client: MlflowClient;
  versions: VersionService;
  dryRun: boolean;
  report: ReportBuilder;
};

export async function orNull<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (err) {
    if (isMlflowNotFound(err)) return null;
    throw err;
  }
}

async function ensureRegisteredModel(ctx: SyncContext, a: ScopedAgent): Promise<RegisteredModel | null> {
  const { client, report } = ctx;
  const base = { object: "registered_model" as const, agent: a.ref, mlflow_model: a.model };
  const want = agentTags(a.system, a.agent);
  const rm = await orNull(() => client.getRegisteredModel(a.model));
  if (!rm) {
    report.add({ ...base, action: "created" });
    if (ctx.dryRun) return null;
    try {
      return await client.createRegisteredModel({
        name: a.model,
        tags: asTagList(want),
        description: a.description ?? undefined,
      });
    } catch (err) {
      // Created by someone else between the get and the create.
      if (isMlflowAlreadyExists(err)) return client.getRegisteredModel(a.model);
      throw err;
    }
  }
  const changed = changedTags(want, rm.tags);
  if (changed.length === 0) report.add({ ...base, action: "unchanged" });
  else {
    report.add({ ...base, action: "updated", detail: `tags ${changed.join(", ")}` });
    if (!ctx.dryRun)
      for (const k of changed) await client.setRegisteredModelTag(a.model, k, want[k] as string);
  }
  return rm;
}

export async function pushAgent(ctx: SyncContext, a: ScopedAgent): Promise<void> {
  const { client, report, db } = ctx;
  const rm = await ensureRegisteredModel(ctx, a);
  const versions = await ctx.versions.list(a.system, a.agent);
  const links = await linksOf(db, a.id);
  const ids = await versionIds(db, a.id);
  const existing = rm ? await client.searchAllModelVersions({ filter: allOf([["name", a.model]]) }) : [];
  const byNumber = new Map(existing.map((mv) => [mv.version, mv]));
  const byTag = new Map<string, ModelVersion>();
  for (const mv of [...existing].sort((x, y) => Number(x.version) - Number(y.version))) {
    const tag = mv.tags.find((t) => t.key === TAG.version)?.value;
    if (tag !== undefined && !byTag.has(tag)) byTag.set(tag, mv);
  }

  // agentgate version number → MLflow version number (null: not created, by a dry run or a failure)
  const mirror = new Map<number, string | null>();
  // MLflow version → the agentgate version it mirrors: one model version never mirrors two.
  const owner = new Map<string, number>();
  for (const [n, l] of links) if (l.registered_model === a.model) owner.set(l.model_version, n);
  const found: Found = { byNumber, byTag, links, ids, owner };
  for (const v of versions) {
    try {
      mirror.set(v.version, await pushVersion(ctx, a, v, found));
    } catch (err) {
      if (!isObjectError(err)) throw err;
      mirror.set(v.version, null);
      const base = { agent: a.ref, mlflow_model: a.model, version: v.version };
      report.add({ ...base, object: "model_version", action: "failed", detail: describeObjectError(err) });
    }
  }

  const champion = versions.find((v) => v.aliases.includes(CHAMPION_ALIAS))?.version ?? null;
  const challenger = await challengerOf(db, a.id, champion);
  // Read after the versions were created: deleting an MLflow version also drops its aliases.
  const current =
    rm && !ctx.dryRun ? (await client.getRegisteredModel(a.model)).aliases : (rm?.aliases ?? []);
  for (const [alias, target] of [
    [CHAMPION_ALIAS, champion],
    [CHALLENGER_ALIAS, challenger],
  ] as const) {
    const have = current.find((x) => x.alias === alias)?.version ?? null;
    const base = { object: "alias" as const, agent: a.ref, mlflow_model: a.model, alias, version: target };
    if (target === null) {
      // An agent without versions has no champion: agentgate has no opinion to mirror then.
      if (have === null || alias === CHAMPION_ALIAS) continue;
      report.add({ ...base, action: "deleted", detail: `was on MLflow version ${have}` });
      if (!ctx.dryRun) await client.deleteAlias(a.model, alias);
      continue;
    }
    const want = mirror.get(target) ?? null;
    if (want === null && !ctx.dryRun) {
      report.add({
        ...base,
        action: "skipped",
        detail: `version ${target} has no model version (it failed above)`,
      });
      continue;
    }
    if (want !== null && want === have) {
      report.add({ ...base, action: "unchanged", mlflow_version: want });
      continue;
    }
    report.add({
      ...base,
      action: have === null ? "created" : "updated",
      mlflow_version: want,
      detail: have === null ? null : `moved from MLflow version ${have}`,
    });
    if (!ctx.dryRun && want !== null) await client.setAlias(a.model, alias, want);
  }
}

type Found = {
  byNumber: Map<string, ModelVersion>;
  byTag: Map<string, ModelVersion>;
  links: Map<number, Link>;
  ids: Map<number, number>;
  owner: Map<string, number>;
};

/** Finds or creates the model version of one agentgate version, sets its tags, saves the link. */
async function pushVersion(
  ctx: SyncContext,
  a: ScopedAgent,
  v: VersionView,
  f: Found,
): Promise<string | null> {
  const { client, report, db } = ctx;
  const base = { object: "model_version" as const, agent: a.ref, mlflow_model: a.model, version: v.version };
  const link = f.links.get(v.version);
  const lineage = (v.lineage ?? {}) as {
    mlflow_model?: unknown;
    mlflow_version?: unknown;
    mlflow_run?: unknown;
  };
  const free = (m: ModelVersion | undefined) =>
    m && (f.owner.get(m.version) ?? v.version) === v.version ? m : undefined;
  let mv =
    free(link?.registered_model === a.model ? f.byNumber.get(link.model_version) : undefined) ??
    free(f.byTag.get(String(v.version))) ??
    free(lineage.mlflow_model === a.model ? f.byNumber.get(String(lineage.mlflow_version)) : undefined);
  const want = versionTags(v);
  if (!mv) {
    if (ctx.dryRun) {
      report.add({ ...base, action: "created" });
      return null;
    }
    mv = await client.createModelVersion({
      name: a.model,
      source: versionSource(v.upstream, v.model),
      runId: typeof lineage.mlflow_run === "string" ? lineage.mlflow_run : undefined,
      tags: asTagList(want),
    });
    report.add({ ...base, action: "created", mlflow_version: mv.version });
  } else {
    const changed = changedTags(want, mv.tags);
    if (changed.length === 0) report.add({ ...base, action: "unchanged", mlflow_version: mv.version });
    else {
      report.add({
        ...base,
        action: "updated",
        mlflow_version: mv.version,
        detail: `tags ${changed.join(", ")}`,
      });
      if (!ctx.dryRun)
        for (const k of changed) await client.setModelVersionTag(a.model, mv.version, k, want[k] as string);
    }
  }
  f.owner.set(mv.version, v.version);
  const id = f.ids.get(v.version);
  const fresh = link?.registered_model !== a.model || link.model_version !== mv.version;
  if (!ctx.dryRun && id !== undefined && fresh) {
    await saveLink(db, {
      version_id: id,
      registered_model: a.model,
      model_version: mv.version,
      run_id: mv.run_id ?? null,
      origin: link?.origin ?? (lineage.mlflow_model === a.model ? "pull" : "push"),
    });
  }
  return mv.version;
}
