/** `agentgate tokens create|list|revoke`: API tokens (admin scope). */
import type { Command } from "commander";
import { SCOPES, type Scope } from "../../auth/scopes.js";
import type { TokenInfo } from "../../auth/tokens.js";
import { type List, seg } from "../client.js";
import { context } from "../context.js";
import { usageError } from "../errors.js";
import { emit, print, printTable } from "../output.js";

function parseScopes(raw: string): Scope[] {
  const scopes = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw usageError(`--scopes must be a comma-separated list of ${SCOPES.join(", ")}; got '${raw}'`);
  }
  return scopes as Scope[];
}

export function registerTokens(program: Command): void {
  const tokens = program.command("tokens").description("manage API tokens (needs the admin scope)");

  tokens
    .command("create")
    .description("create a token; its secret is printed once and cannot be shown again")
    .argument("<name>", "token name, recorded as the actor in the audit log")
    .requiredOption("--scopes <list>", `comma-separated scopes: ${SCOPES.join(", ")}`, parseScopes)
    .action(async (name: string, opts: { scopes: Scope[] }, cmd: Command) => {
      const { api, json } = context(cmd);
      const created = await api.post<TokenInfo & { token: string }>("/tokens", { name, scopes: opts.scopes });
      emit(json, created, (t) => {
        print(`Created token '${t.name}' with scopes ${t.scopes.join(", ")}.`);
        print("Its secret is shown only this once; store it now:");
        print();
        print(`  ${t.token}`);
        print();
      });
    });

  tokens
    .command("list")
    .description("list tokens (never their secrets)")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<TokenInfo>>("/tokens");
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "NAME", value: (t) => t.name },
            { header: "SCOPES", value: (t) => t.scopes.join(",") },
            { header: "PREFIX", value: (t) => t.prefix },
            { header: "STATUS", value: (t) => (t.revoked_at ? "revoked" : "active") },
            { header: "CREATED_BY", value: (t) => t.created_by },
            { header: "CREATED_AT", value: (t) => t.created_at },
          ],
          "No tokens (the bootstrap admin token from the environment is not listed).",
        ),
      );
    });

  tokens
    .command("revoke")
    .description("revoke a token; it stops working at once")
    .argument("<name>", "token name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const revoked = await api.delete<TokenInfo>(`/tokens/${seg(name)}`);
      emit(json, revoked, (t) => print(`Revoked token '${t.name}' (revoked at ${t.revoked_at}).`));
    });
}
