/**
 * What every operator verb needs: the API client built from the global options, the output mode,
 * and local validation of arguments, so malformed input fails before any network call.
 */
import type { Command } from "commander";
import { parseAgentRef } from "../registry/names.js";
import { ApiClient, normalizeBaseUrl, seg } from "./client.js";
import { usageError } from "./errors.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export type GlobalOptions = { url?: string; token?: string; json?: boolean };

export type Context = { api: ApiClient; json: boolean };

const envValue = (name: string) => {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
};

/** Every admin route requires a token, so one is demanded up front rather than after a 401. */
export function context(cmd: Command): Context {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  // An empty flag counts as absent, like an empty variable: `--token "$UNSET_VAR"` is a common slip.
  const url = normalizeBaseUrl(opts.url || envValue("AGENTGATE_URL") || DEFAULT_URL);
  const token = opts.token || envValue("AGENTGATE_TOKEN") || envValue("AGENTGATE_ADMIN_TOKEN");
  if (!token) {
    throw usageError(
      "this command needs an API token: pass --token or set AGENTGATE_TOKEN (or AGENTGATE_ADMIN_TOKEN)",
    );
  }
  return { api: new ApiClient({ url, token }), json: opts.json === true };
}

export function jsonMode(cmd: Command): boolean {
  return cmd.optsWithGlobals<GlobalOptions>().json === true;
}

export type AgentArg = { system: string; agent: string; ref: string; path: string };

export function parseAgentArg(raw: string): AgentArg {
  const parsed = parseAgentRef(raw);
  if (!parsed) {
    throw usageError(
      `'${raw}' is not an agent reference: expected system/agent, each 1-64 characters of lowercase letters, digits, '-' or '_'`,
    );
  }
  const { system, agent } = parsed;
  return { system, agent, ref: `${system}/${agent}`, path: `/systems/${seg(system)}/agents/${seg(agent)}` };
}

/** A commander argument/option parser for positive integers (version numbers, limits). */
export function positiveInt(what: string) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
      throw usageError(`${what} must be a positive integer, got '${raw}'`);
    }
    return Number(raw);
  };
}

export function nonNegativeNumber(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw usageError(`${what} must be a non-negative number, got '${raw}'`);
    }
    return n;
  };
}

/** Collects a repeatable option into an array. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
