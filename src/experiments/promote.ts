/**
 * Promotion: the winning arm's versions become the champions of their agents and the experiment
 * concludes — one transaction, one audit entry per alias move plus one for the experiment, and a
 * routing notification so every replica follows. Refused while the sample-ratio-mismatch check
 * is flagged (the split itself is broken, so the comparison cannot be trusted) unless forced.
 */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError } from "../errors.js";
import { CHAMPION, moveAlias } from "../registry/aliases.js";
import { findAgent, findVersion } from "../registry/lookup.js";
import { agentRef } from "../registry/names.js";
import { buildReport } from "./report/report.js";
import type { ExperimentService } from "./service.js";

export type PromoteInput = { arm: string; force?: boolean; reason?: string | null };
export type PromoteResult = {
  experiment: number;
  arm: string;
  champions: { agent: string; from: number | null; to: number }[];
  srm_p: number | null;
  forced: boolean;
};

const alreadyPromoted = (id: number, arm: string) =>
  new AppError("invalid_state", `experiment ${id} already promoted arm '${arm}'`);

export class PromotionService {
  constructor(
    private readonly db: Knex,
    private readonly experiments: ExperimentService,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async promote(actor: Actor, id: number, input: PromoteInput): Promise<PromoteResult> {
    const exp = await this.experiments.get(id);
    const arm = exp.arms.find((a) => a.name === input.arm);
    if (!arm) {
      throw new AppError(
        "invalid_request",
        `arm: experiment ${id} has no arm '${input.arm}' (arms: ${exp.arms.map((a) => a.name).join(", ")})`,
        "arm",
      );
    }
    if (exp.status === "draft")
      throw new AppError(
        "invalid_state",
        `experiment ${id} never ran; start it or set the champion directly`,
      );
    // Before the report: a concluded experiment's split no longer matters (checked again below,
    // under the row lock, for concurrent promotions).
    const done = await this.db("experiments").where({ id }).first("promoted_arm");
    if (done?.promoted_arm) throw alreadyPromoted(id, done.promoted_arm);
    const report = await buildReport(this.db, exp);
    const srmP = report.srm?.p ?? null;
    // "Forced" means force overrode a flagged check, in the answer and in the audit log alike.
    const forced = Boolean(input.force && report.srm?.flagged);
    if (report.srm?.flagged && !input.force) {
      throw new AppError(
        "srm_detected",
        `refusing to promote: sample ratio mismatch (p = ${srmP?.toExponential(2)} < 0.001; units ${report.srm.counts.join(" vs ")} for weights ${report.srm.weights.map((w) => w.toFixed(2)).join("/")}). Find the cause, or pass force: true`,
      );
    }
    return this.db.transaction(async (trx) => {
      const row = await trx("experiments").where({ id }).forUpdate().first("status", "promoted_arm");
      if (row.promoted_arm) throw alreadyPromoted(id, row.promoted_arm);
      const reason = input.reason ?? `promoted from experiment ${id} (${exp.name}), arm ${arm.name}`;
      const champions: PromoteResult["champions"] = [];
      // Agents in name order, so concurrent promotions lock rows in the same order.
      for (const agent of Object.keys(arm.versions).sort()) {
        const a = await findAgent(trx, exp.system, agent, { lock: true });
        const ref = agentRef(exp.system, agent);
        const to = await findVersion(trx, a, ref, arm.versions[agent] as number);
        const from = await moveAlias(trx, actor, {
          agent: a,
          ref,
          alias: CHAMPION,
          to,
          reason,
          action: "promote",
        });
        champions.push({ agent, from, to: to.number });
      }
      await trx("experiments")
        .where({ id })
        .update({
          status: "stopped",
          ended_at: exp.ended_at ?? trx.fn.now(),
          end_reason: `promoted arm ${arm.name}`,
          promoted_arm: arm.name,
        });
      await recordAudit(trx, {
        actor: actor.name,
        action: "experiment.promote",
        objectType: "experiment",
        objectKey: String(id),
        before: { status: row.status },
        after: {
          status: "stopped",
          promoted_arm: arm.name,
          champions,
          srm_p: srmP,
          forced,
        },
        reason,
      });
      await this.onChange(trx);
      return {
        experiment: id,
        arm: arm.name,
        champions,
        srm_p: srmP,
        forced,
      };
    });
  }
}
