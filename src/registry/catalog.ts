/** Systems and their agents: the named things versions, aliases and pins hang from. */
import type { Knex } from "knex";
import { recordAudit } from "../audit/audit.js";
import type { Actor } from "../auth/scopes.js";
import { uniqueName } from "../errors.js";
import { type AgentRow, findAgent, findSystem, iso, type SystemRow } from "./lookup.js";
import { agentRef } from "./names.js";
import type { AgentCreate, AgentView, SystemCreate, SystemView } from "./schemas.js";

function presentSystem(row: SystemRow, agents: number): SystemView {
  return {
    name: row.name,
    topology: row.topology as SystemView["topology"],
    description: row.description,
    agents,
    created_at: iso(row.created_at),
  };
}

export class CatalogService {
  constructor(private readonly db: Knex) {}

  async createSystem(actor: Actor, input: SystemCreate): Promise<SystemView> {
    return uniqueName("system", input.name, () =>
      this.db.transaction(async (trx) => {
        const [row] = await trx("systems")
          .insert({ name: input.name, topology: input.topology, description: input.description ?? null })
          .returning("*");
        const view = presentSystem(row, 0);
        await recordAudit(trx, {
          actor: actor.name,
          action: "system.create",
          objectType: "system",
          objectKey: input.name,
          after: view,
        });
        return view;
      }),
    );
  }

  async listSystems(): Promise<SystemView[]> {
    const rows = await this.db("systems as s")
      .leftJoin("agents as a", "a.system_id", "s.id")
      .groupBy("s.id")
      .orderBy("s.name")
      .select("s.*", this.db.raw("count(a.id)::int as agent_count"));
    return rows.map((r) => presentSystem(r, r.agent_count));
  }

  async getSystem(name: string): Promise<SystemView> {
    const row = await findSystem(this.db, name);
    const [c] = await this.db("agents").where({ system_id: row.id }).count<{ n: number }[]>({ n: "*" });
    return presentSystem(row, Number(c?.n ?? 0));
  }

  async createAgent(actor: Actor, system: string, input: AgentCreate): Promise<AgentView> {
    return uniqueName("agent", agentRef(system, input.name), () =>
      this.db.transaction(async (trx) => {
        const sys = await findSystem(trx, system);
        const [row] = await trx("agents")
          .insert({
            system_id: sys.id,
            name: input.name,
            role: input.role ?? null,
            description: input.description ?? null,
          })
          .returning("*");
        const view = await this.presentAgent(trx, system, row);
        await recordAudit(trx, {
          actor: actor.name,
          action: "agent.create",
          objectType: "agent",
          objectKey: agentRef(system, input.name),
          after: { role: view.role, description: view.description },
        });
        return view;
      }),
    );
  }

  async listAgents(system: string): Promise<AgentView[]> {
    const sys = await findSystem(this.db, system);
    const rows: AgentRow[] = await this.db("agents").where({ system_id: sys.id }).orderBy("name");
    return Promise.all(rows.map((r) => this.presentAgent(this.db, system, r)));
  }

  async getAgent(system: string, agent: string): Promise<AgentView> {
    return this.presentAgent(this.db, system, await findAgent(this.db, system, agent));
  }

  /** The agent with what routes it: champion, other aliases, pin and version count. */
  async presentAgent(q: Knex | Knex.Transaction, system: string, row: AgentRow): Promise<AgentView> {
    const aliases = await q("aliases as a")
      .join("versions as v", "v.id", "a.version_id")
      .where("a.agent_id", row.id)
      .orderBy("a.name")
      .select("a.name", "v.number");
    const pin = await q("pins as p")
      .join("versions as v", "v.id", "p.version_id")
      .where("p.agent_id", row.id)
      .first("v.number", "p.reason", "p.created_by", "p.created_at");
    const aliasMap: Record<string, number> = Object.fromEntries(aliases.map((a) => [a.name, a.number]));
    return {
      system,
      name: row.name,
      role: row.role,
      description: row.description,
      champion: aliasMap.champion ?? null,
      aliases: aliasMap,
      pin: pin
        ? { version: pin.number, reason: pin.reason, by: pin.created_by, at: iso(pin.created_at) }
        : null,
      versions: row.next_version - 1,
      latest_version: row.next_version > 1 ? row.next_version - 1 : null,
      created_at: iso(row.created_at),
    };
  }
}
