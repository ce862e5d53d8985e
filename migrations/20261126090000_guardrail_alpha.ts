/**
 * The experiment's guardrail α: the family-wise bound on wrongly rolling back a treatment that is
 * within every guardrail's margin (guardrails.ts). Ramps and the guardian's last verdict already
 * have their columns (20261125160000_feedback_metrics).
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("experiments", (t) => {
    t.double("guardrail_alpha").notNullable().defaultTo(0.05);
  });
  await knex.raw(
    "ALTER TABLE experiments ADD CONSTRAINT experiments_guardrail_alpha_check CHECK (guardrail_alpha > 0 AND guardrail_alpha <= 0.5)",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("experiments", (t) => {
    t.dropColumn("guardrail_alpha");
  });
}
