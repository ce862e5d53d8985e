/** Upstreams: OpenAI-compatible provider endpoints that versions are served from. */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { AppError, notFound, uniqueName } from "../errors.js";
import { iso } from "./lookup.js";
import type { UpstreamCreate, UpstreamUpdate, UpstreamView } from "./schemas.js";

const COLUMNS = [
  "name",
  "base_url",
  "api_key_env",
  "timeout_ms",
  "connect_timeout_ms",
  "first_byte_timeout_ms",
] as const;

function present(row: Record<string, unknown>): UpstreamView {
  const view = Object.fromEntries(COLUMNS.map((c) => [c, row[c] ?? null])) as Omit<
    UpstreamView,
    "created_at" | "updated_at"
  >;
  return { ...view, created_at: iso(row.created_at as Date), updated_at: iso(row.updated_at as Date) };
}

export class UpstreamService {
  constructor(
    private readonly db: Knex,
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {}

  async create(actor: Actor, input: UpstreamCreate): Promise<UpstreamView> {
    return uniqueName("upstream", input.name, () =>
      this.db.transaction(async (trx) => {
        const [row] = await trx("upstreams")
          .insert({ ...input, api_key_env: input.api_key_env ?? null })
          .returning("*");
        const view = present(row);
        await recordAudit(trx, {
          actor: actor.name,
          action: "upstream.create",
          objectType: "upstream",
          objectKey: input.name,
          after: view,
        });
        return view;
      }),
    );
  }

  async list(): Promise<UpstreamView[]> {
    return (await this.db("upstreams").orderBy("name")).map(present);
  }

  async get(name: string): Promise<UpstreamView> {
    const row = await this.db("upstreams").where({ name }).first();
    if (!row) throw notFound("upstream_not_found", `upstream '${name}'`);
    return present(row);
  }

  async update(actor: Actor, name: string, patch: UpstreamUpdate): Promise<UpstreamView> {
    return this.db.transaction(async (trx) => {
      const row = await trx("upstreams").where({ name }).forUpdate().first();
      if (!row) throw notFound("upstream_not_found", `upstream '${name}'`);
      const [updated] = await trx("upstreams")
        .where({ id: row.id })
        .update({ ...patch, updated_at: trx.fn.now() })
        .returning("*");
      const view = present(updated);
      await recordAudit(trx, {
        actor: actor.name,
        action: "upstream.update",
        objectType: "upstream",
        objectKey: name,
        before: present(row),
        after: view,
      });
      await this.onChange(trx);
      return view;
    });
  }

  /** Refused while any version is served from it: versions are immutable and must stay routable. */
  async delete(actor: Actor, name: string): Promise<void> {
    await this.db.transaction(async (trx) => {
      const row = await trx("upstreams").where({ name }).forUpdate().first();
      if (!row) throw notFound("upstream_not_found", `upstream '${name}'`);
      const used = await trx("versions").where({ upstream_id: row.id }).count<{ n: number }[]>({ n: "*" });
      if (Number(used[0]?.n) > 0) {
        throw new AppError(
          "in_use",
          `upstream '${name}' serves ${used[0]?.n} version(s) and cannot be deleted`,
        );
      }
      await trx("upstreams").where({ id: row.id }).delete();
      await recordAudit(trx, {
        actor: actor.name,
        action: "upstream.delete",
        objectType: "upstream",
        objectKey: name,
        before: present(row),
      });
    });
  }
}
