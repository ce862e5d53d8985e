/**
 * Pull: model versions registered in MLflow (by a training pipeline) that agentgate does not know
 * become agentgate versions of the agent their registered model mirrors, oldest first, with
 * lineage pointing back to the MLflow model version and run. A model version is known when a link
 * or a version's lineage names it, or when it carries `agentgate.version` (it mirrors a version).
 * An imported version is registered with its lineage in the same transaction, so a crash before
 * its link is saved cannot import it twice. The new version's `agentgate.*` tags are written back.
 */
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import { tagRecord } from "./client.js";
import { allOf } from "./filter.js";
import { changedTags, importDecision, TAG, versionTags } from "./mapping.js";
import { orNull, type SyncContext } from "./push.js";
import { linksOf, type ScopedAgent, saveLink, versionIds } from "./store.js";

export async function pullAgent(
  ctx: SyncContext,
  actor: Actor,
  a: ScopedAgent,
  upstreams: ReadonlySet<string>,
): Promise<void> {
  const { client, report, db } = ctx;
  const rm = await orNull(() => client.getRegisteredModel(a.model));
  if (!rm) return;
  const found = await client.searchAllModelVersions({ filter: allOf([["name", a.model]]) });
  const versions = await ctx.versions.list(a.system, a.agent);
  const numbers = new Set(versions.map((v) => v.version));
  const known = new Set<string>();
  for (const link of (await linksOf(db, a.id)).values())
    if (link.registered_model === a.model) known.add(link.model_version);
  for (const v of versions) {
    const lineage = (v.lineage ?? {}) as { mlflow_model?: unknown; mlflow_version?: unknown };
    if (lineage.mlflow_model === a.model) known.add(String(lineage.mlflow_version));
  }

  for (const mv of found.sort((x, y) => Number(x.version) - Number(y.version))) {
    if (known.has(mv.version)) continue;
    const base = { agent: a.ref, mlflow_model: a.model, mlflow_version: mv.version };
    const tags = tagRecord(mv.tags);
    const claimed = tags[TAG.version];
    if (claimed !== undefined) {
      // It mirrors an agentgate version (push adopts it), unless that version does not exist here.
      if (!numbers.has(Number(claimed)))
        report.add({
          ...base,
          object: "model_version",
          action: "skipped",
          detail: `tagged ${TAG.version}=${claimed}, but ${a.ref} has no version ${claimed} (mirrored from another agentgate?)`,
        });
      continue;
    }
    const decision = importDecision(mv, upstreams);
    if (!decision.ok) {
      report.add({ ...base, object: "model_version", action: "skipped", detail: decision.reason });
      continue;
    }
    const { input } = decision;
    const what = `${input.kind} ${input.upstream}/${input.model}`;
    if (ctx.dryRun) {
      report.add({ ...base, object: "agentgate_version", action: "created", detail: what });
      continue;
    }
    let view: Awaited<ReturnType<typeof ctx.versions.register>>;
    try {
      view = await ctx.versions.register(actor, a.system, a.agent, input);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      report.add({ ...base, object: "model_version", action: "skipped", detail: err.message });
      continue;
    }
    report.add({
      ...base,
      object: "agentgate_version",
      action: "created",
      version: view.version,
      detail: what,
    });
    const id = (await versionIds(db, a.id)).get(view.version);
    if (id !== undefined)
      await saveLink(db, {
        version_id: id,
        registered_model: a.model,
        model_version: mv.version,
        run_id: mv.run_id ?? null,
        origin: "pull",
      });
    const want = versionTags(view);
    for (const k of changedTags(want, mv.tags))
      await client.setModelVersionTag(a.model, mv.version, k, want[k] as string);
  }
}
