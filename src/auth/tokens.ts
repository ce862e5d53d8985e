/**
 * API tokens: random secrets shown once at creation, stored only as SHA-256 hashes. The optional
 * bootstrap admin token from the environment is checked in memory and never stored.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import { notFound, uniqueName } from "../errors.js";
import type { Actor, Scope } from "./scopes.js";

export const BOOTSTRAP_ACTOR = "bootstrap-admin";

export type TokenInfo = {
  name: string;
  scopes: Scope[];
  prefix: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
};

const sha256 = (s: string) => createHash("sha256").update(s).digest();

function present(row: Record<string, unknown>): TokenInfo {
  return {
    name: row.name as string,
    scopes: row.scopes as Scope[],
    prefix: row.prefix as string,
    created_by: row.created_by as string,
    created_at: new Date(row.created_at as string).toISOString(),
    revoked_at: row.revoked_at ? new Date(row.revoked_at as string).toISOString() : null,
  };
}

export class TokenService {
  private readonly bootstrapHash: Buffer | undefined;

  constructor(
    private readonly db: Knex,
    bootstrapToken: string | undefined,
    /** Token changes reach the data plane through the routing table, like any config change. */
    private readonly onChange: (trx: Knex.Transaction) => Promise<void>,
  ) {
    this.bootstrapHash = bootstrapToken ? sha256(bootstrapToken) : undefined;
  }

  /** The actor behind a raw bearer token, or null when it is unknown or revoked. */
  async verify(raw: string): Promise<Actor | null> {
    const hash = sha256(raw);
    if (this.bootstrapHash && timingSafeEqual(hash, this.bootstrapHash)) {
      return { name: BOOTSTRAP_ACTOR, scopes: ["admin"] };
    }
    const row = await this.db("api_tokens")
      .where({ token_hash: hash.toString("hex") })
      .whereNull("revoked_at")
      .first("name", "scopes");
    return row ? { name: row.name, scopes: row.scopes } : null;
  }

  async create(
    actor: Actor,
    input: { name: string; scopes: Scope[] },
  ): Promise<TokenInfo & { token: string }> {
    const token = `agk_${randomBytes(24).toString("base64url")}`;
    return uniqueName("token", input.name, () =>
      this.db.transaction(async (trx) => {
        const [row] = await trx("api_tokens")
          .insert({
            name: input.name,
            scopes: input.scopes,
            token_hash: sha256(token).toString("hex"),
            prefix: token.slice(0, 10),
            created_by: actor.name,
          })
          .returning("*");
        const info = present(row);
        await recordAudit(trx, {
          actor: actor.name,
          action: "token.create",
          objectType: "token",
          objectKey: input.name,
          after: { scopes: info.scopes, prefix: info.prefix },
        });
        await this.onChange(trx);
        return { ...info, token };
      }),
    );
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.db("api_tokens").select("*").orderBy("id");
    return rows.map(present);
  }

  async revoke(actor: Actor, name: string): Promise<TokenInfo> {
    return this.db.transaction(async (trx) => {
      const row = await trx("api_tokens").where({ name }).forUpdate().first();
      if (!row) throw notFound("token_not_found", `token '${name}'`);
      if (row.revoked_at) return present(row);
      const [updated] = await trx("api_tokens")
        .where({ id: row.id })
        .update({ revoked_at: trx.fn.now() })
        .returning("*");
      await recordAudit(trx, {
        actor: actor.name,
        action: "token.revoke",
        objectType: "token",
        objectKey: name,
        before: { revoked: false },
        after: { revoked: true },
      });
      await this.onChange(trx);
      return present(updated);
    });
  }
}
