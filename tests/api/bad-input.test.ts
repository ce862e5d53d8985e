/**
 * Bad input of every kind gets a precise 4xx in the OpenAI error envelope, never a 500 or a
 * stack trace, and a rejected request changes nothing (no row, no audit entry).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNoChange } from "../helpers/api.js";
import { backends } from "../helpers/databases.js";
import { seedAgent, startTestInstance, type TestInstance } from "../helpers/instance.js";

const A = "/api/v1/systems/support/agents/coordinator";
const V = { kind: "base_optimized", upstream: "fake", model: "m" };

type Case = {
  name: string;
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  body?: unknown;
  /** Sent as-is with `content-type: application/json`. */
  raw?: string;
  /** Content type of `raw` (default `application/json`). */
  contentType?: string;
  status: number;
  code: string;
  /** The field the answer must name, in its message and (unless `unnamedParam`) in `param`. */
  field?: string;
  /** Unknown keys are reported on the object that holds them: the message names the key. */
  unnamedParam?: boolean;
};

const deep = (levels: number) => `${"[".repeat(levels)}1${"]".repeat(levels)}`;

const WRONG_TYPES: Case[] = [
  {
    name: "version as a word (pin)",
    method: "put",
    path: `${A}/pin`,
    body: { version: "two" },
    field: "version",
  },
  {
    name: "version as a word (alias)",
    method: "put",
    path: `${A}/aliases/canary`,
    body: { version: "two" },
    field: "version",
  },
  {
    name: "version as a word (rollback)",
    method: "post",
    path: `${A}/rollback`,
    body: { version: "two" },
    field: "version",
  },
  { name: "fractional version", method: "put", path: `${A}/pin`, body: { version: 1.5 }, field: "version" },
  { name: "version 0", method: "put", path: `${A}/pin`, body: { version: 0 }, field: "version" },
  {
    name: "negative version",
    method: "put",
    path: `${A}/aliases/canary`,
    body: { version: -1 },
    field: "version",
  },
  {
    name: "version beyond int32 (pin)",
    method: "put",
    path: `${A}/pin`,
    body: { version: 2 ** 31 },
    field: "version",
  },
  {
    name: "version beyond int32 (alias)",
    method: "put",
    path: `${A}/aliases/canary`,
    body: { version: 3e9 },
    field: "version",
  },
  {
    name: "version beyond int32 (rollback)",
    method: "post",
    path: `${A}/rollback`,
    body: { version: 2 ** 40 },
    field: "version",
  },
  {
    name: "numeric topology",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x", topology: 5 },
    field: "topology",
  },
  {
    name: "unknown topology",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x", topology: "mesh" },
    field: "topology",
  },
  {
    name: "numeric description",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x", topology: "custom", description: 7 },
    field: "description",
  },
  {
    name: "numeric base_url",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: 5 },
    field: "base_url",
  },
  {
    name: "ftp base_url",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "ftp://h/v1" },
    field: "base_url",
  },
  {
    name: "fractional timeout",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "http://h/v1", timeout_ms: 1.5 },
    field: "timeout_ms",
  },
  {
    name: "tiny timeout",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "http://h/v1", timeout_ms: 5 },
    field: "timeout_ms",
  },
  {
    name: "string timeout on update",
    method: "patch",
    path: "/api/v1/upstreams/fake",
    body: { timeout_ms: "fast" },
    field: "timeout_ms",
  },
  {
    name: "unknown kind",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, kind: "lora" },
    field: "kind",
  },
  { name: "numeric model", method: "post", path: `${A}/versions`, body: { ...V, model: 4 }, field: "model" },
  { name: "empty model", method: "post", path: `${A}/versions`, body: { ...V, model: "" }, field: "model" },
  {
    name: "cost as a word",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, training_cost_usd: "two" },
    field: "training_cost_usd",
  },
  {
    name: "negative cost",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, training_cost_usd: -1 },
    field: "training_cost_usd",
  },
  {
    name: "params as a list",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, params: [1] },
    field: "params",
  },
  {
    name: "numeric tag value",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, tags: { team: 1 } },
    field: "tags.team",
  },
  {
    name: "bad prompt mode",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, prompt: { mode: "append" } },
    field: "prompt.mode",
  },
  {
    name: "bad demo role",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, prompt: { demos: [{ role: "tool", content: "x" }] } },
    field: "prompt.demos.0.role",
  },
  {
    name: "parent version of the future",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, lineage: { parent_version: 99 } },
    field: "lineage.parent_version",
  },
  {
    name: "scopes as a string",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "tk", scopes: "admin" },
    field: "scopes",
  },
  {
    name: "unknown scope",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "tk", scopes: ["root"] },
    field: "scopes.0",
  },
  {
    name: "no scopes",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "tk", scopes: [] },
    field: "scopes",
  },
  { name: "audit limit 0", method: "get", path: "/api/v1/audit?limit=0", field: "limit" },
  { name: "audit limit word", method: "get", path: "/api/v1/audit?limit=ten", field: "limit" },
  { name: "audit limit repeated", method: "get", path: "/api/v1/audit?limit=1&limit=2", field: "limit" },
  { name: "audit negative before", method: "get", path: "/api/v1/audit?before=-1", field: "before" },
  { name: "body is a list", method: "post", path: "/api/v1/systems", raw: "[]" },
  { name: "body is a string", method: "post", path: "/api/v1/systems", raw: '"support"' },
  { name: "body is null", method: "put", path: `${A}/pin`, raw: "null" },
  { name: "no body at all", method: "post", path: "/api/v1/systems" },
].map((c) => ({ status: 400, code: "invalid_request", ...c }) as Case);

const MISSING: Case[] = [
  {
    name: "system without topology",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x" },
    field: "topology",
  },
  {
    name: "system without name",
    method: "post",
    path: "/api/v1/systems",
    body: { topology: "custom" },
    field: "name",
  },
  {
    name: "agent without name",
    method: "post",
    path: "/api/v1/systems/support/agents",
    body: { role: "r" },
    field: "name",
  },
  {
    name: "upstream without base_url",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u" },
    field: "base_url",
  },
  {
    name: "version without model",
    method: "post",
    path: `${A}/versions`,
    body: { kind: "fine_tuned", upstream: "fake" },
    field: "model",
  },
  {
    name: "version without kind",
    method: "post",
    path: `${A}/versions`,
    body: { upstream: "fake", model: "m" },
    field: "kind",
  },
  {
    name: "version without upstream",
    method: "post",
    path: `${A}/versions`,
    body: { kind: "fine_tuned", model: "m" },
    field: "upstream",
  },
  { name: "pin without version", method: "put", path: `${A}/pin`, body: { reason: "why" }, field: "version" },
  { name: "alias without version", method: "put", path: `${A}/aliases/canary`, body: {}, field: "version" },
  {
    name: "token without scopes",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "tk" },
    field: "scopes",
  },
].map((c) => ({ status: 400, code: "invalid_request", ...c }) as Case);

const UNKNOWN_FIELDS: Case[] = [
  {
    name: "system colour",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x", topology: "custom", colour: "red" },
    field: "colour",
  },
  {
    name: "agent owner",
    method: "post",
    path: "/api/v1/systems/support/agents",
    body: { name: "x", owner: "me" },
    field: "owner",
  },
  {
    name: "upstream api_key",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "http://h/v1", api_key: "sk-live-0123456789" },
    field: "api_key",
  },
  {
    name: "renaming an upstream",
    method: "patch",
    path: "/api/v1/upstreams/fake",
    body: { name: "renamed" },
    field: "name",
  },
  { name: "version typo", method: "post", path: `${A}/versions`, body: { ...V, modle: "m" }, field: "modle" },
  {
    name: "prompt typo",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, prompt: { sytem: "x" } },
    field: "sytem",
  },
  {
    name: "pricing typo",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, pricing: { input_per_mtok: 1, output_per_mtok: 2, cache: 1 } },
    field: "cache",
  },
  { name: "pin force", method: "put", path: `${A}/pin`, body: { version: 1, force: true }, field: "force" },
  { name: "rollback to", method: "post", path: `${A}/rollback`, body: { to: 1 }, field: "to" },
  {
    name: "alias note",
    method: "put",
    path: `${A}/aliases/canary`,
    body: { version: 1, note: "x" },
    field: "note",
  },
  {
    name: "token expiry",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "tk", scopes: ["read"], expires: 1 },
    field: "expires",
  },
  {
    name: "__proto__ key",
    method: "post",
    path: "/api/v1/systems",
    raw: '{"name":"p","topology":"custom","__proto__":{"admin":true}}',
    field: "__proto__",
  },
  { name: "audit query typo", method: "get", path: "/api/v1/audit?objet=support", field: "objet" },
].map((c) => ({ status: 400, code: "invalid_request", unnamedParam: true, ...c }) as Case);

const UNKNOWN_NAMES: Case[] = [
  { name: "system", method: "get", path: "/api/v1/systems/nosuch", status: 404, code: "system_not_found" },
  {
    name: "system's agents",
    method: "get",
    path: "/api/v1/systems/nosuch/agents",
    status: 404,
    code: "system_not_found",
  },
  {
    name: "agent in unknown system",
    method: "post",
    path: "/api/v1/systems/nosuch/agents",
    body: { name: "a" },
    status: 404,
    code: "system_not_found",
  },
  {
    name: "agent",
    method: "get",
    path: "/api/v1/systems/support/agents/nosuch",
    status: 404,
    code: "agent_not_found",
  },
  {
    name: "versions of unknown agent",
    method: "post",
    path: "/api/v1/systems/support/agents/nosuch/versions",
    body: V,
    status: 404,
    code: "agent_not_found",
  },
  {
    name: "pin of unknown agent",
    method: "put",
    path: "/api/v1/systems/support/agents/nosuch/pin",
    body: { version: 1 },
    status: 404,
    code: "agent_not_found",
  },
  {
    name: "rollback of unknown agent",
    method: "post",
    path: "/api/v1/systems/support/agents/nosuch/rollback",
    status: 404,
    code: "agent_not_found",
  },
  { name: "version", method: "get", path: `${A}/versions/99`, status: 404, code: "version_not_found" },
  {
    name: "pin to unknown version",
    method: "put",
    path: `${A}/pin`,
    body: { version: 99 },
    status: 404,
    code: "version_not_found",
  },
  {
    name: "alias to unknown version",
    method: "put",
    path: `${A}/aliases/canary`,
    body: { version: 99 },
    status: 404,
    code: "version_not_found",
  },
  {
    name: "rollback to unknown version",
    method: "post",
    path: `${A}/rollback`,
    body: { version: 99 },
    status: 404,
    code: "version_not_found",
  },
  {
    name: "version on unknown upstream",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, upstream: "nosuch" },
    status: 404,
    code: "upstream_not_found",
  },
  {
    name: "upstream",
    method: "get",
    path: "/api/v1/upstreams/nosuch",
    status: 404,
    code: "upstream_not_found",
  },
  {
    name: "upstream update",
    method: "patch",
    path: "/api/v1/upstreams/nosuch",
    body: { timeout_ms: 1000 },
    status: 404,
    code: "upstream_not_found",
  },
  {
    name: "upstream delete",
    method: "delete",
    path: "/api/v1/upstreams/nosuch",
    status: 404,
    code: "upstream_not_found",
  },
  { name: "alias", method: "get", path: `${A}/aliases/nosuch`, status: 404, code: "alias_not_found" },
  {
    name: "alias delete",
    method: "delete",
    path: `${A}/aliases/nosuch`,
    status: 404,
    code: "alias_not_found",
  },
  {
    name: "pin delete when unpinned",
    method: "delete",
    path: `${A}/pin`,
    status: 404,
    code: "pin_not_found",
  },
  {
    name: "token revoke",
    method: "delete",
    path: "/api/v1/tokens/nosuch",
    status: 404,
    code: "token_not_found",
  },
  { name: "route", method: "get", path: "/api/v1/nothing-here", status: 404, code: "route_not_found" },
];

const long = "a".repeat(65);
const INVALID_NAMES: Case[] = [
  ...[
    ["uppercase", "Support"],
    ["space", "my system"],
    ["65 characters", long],
    ["leading dash", "-x"],
    ["leading underscore", "_x"],
    ["dots", ".."],
    ["slash", "a/b"],
    ["empty", ""],
    ["unicode", "systéme"],
  ].map(([what, name]) => ({
    name: `system name: ${what}`,
    method: "post" as const,
    path: "/api/v1/systems",
    body: { name, topology: "custom" },
    field: "name",
  })),
  {
    name: "agent name uppercase",
    method: "post",
    path: "/api/v1/systems/support/agents",
    body: { name: "Coordinator" },
    field: "name",
  },
  {
    name: "upstream name with space",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "open ai", base_url: "http://h/v1" },
    field: "name",
  },
  {
    name: "token name too long",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: long, scopes: ["read"] },
    field: "name",
  },
  {
    name: "token named like the bootstrap admin",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "bootstrap-admin", scopes: ["admin"] },
    field: "name",
  },
  {
    name: "upstream with an env var name that is a key",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "http://h/v1", api_key_env: "sk-live-0123456789" },
    field: "api_key_env",
  },
  {
    name: "upstream URL with credentials",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "u", base_url: "https://user:sk-live-0123456789@h/v1" },
    field: "base_url",
  },
].map((c) => ({ status: 400, code: "invalid_request", ...c }) as Case);

const INVALID_PATHS: Case[] = [
  { name: "uppercase system", method: "get", path: "/api/v1/systems/Support", field: "system" },
  {
    name: "path traversal (encoded ..)",
    method: "get",
    path: "/api/v1/systems/%2E%2E/agents",
    field: "system",
  },
  { name: "encoded slash", method: "get", path: "/api/v1/systems/support%2F..%2Fx", field: "system" },
  {
    name: "65-character agent",
    method: "get",
    path: `/api/v1/systems/support/agents/${long}`,
    field: "agent",
  },
  { name: "leading-dash agent", method: "get", path: "/api/v1/systems/support/agents/-x", field: "agent" },
  { name: "alias latest", method: "put", path: `${A}/aliases/latest`, body: { version: 1 }, field: "alias" },
  { name: "alias v3", method: "put", path: `${A}/aliases/v3`, body: { version: 1 }, field: "alias" },
  { name: "alias 7", method: "put", path: `${A}/aliases/7`, body: { version: 1 }, field: "alias" },
  { name: "alias with space", method: "get", path: `${A}/aliases/my%20alias`, field: "alias" },
  { name: "version word", method: "get", path: `${A}/versions/two`, field: "n" },
  { name: "version 0", method: "get", path: `${A}/versions/0`, field: "n" },
  { name: "version hex", method: "get", path: `${A}/versions/0x1`, field: "n" },
  { name: "version exponent", method: "get", path: `${A}/versions/1e0`, field: "n" },
  { name: "version beyond int32", method: "get", path: `${A}/versions/99999999999`, field: "n" },
  { name: "version just beyond int32", method: "get", path: `${A}/versions/2147483648`, field: "n" },
  { name: "upstream with dots", method: "delete", path: "/api/v1/upstreams/%2E%2E", field: "name" },
  { name: "token uppercase", method: "delete", path: "/api/v1/tokens/Admin", field: "name" },
].map((c) => ({ status: 400, code: "invalid_name", ...c }) as Case);

const UNSTORABLE: Case[] = [
  {
    name: "NUL in a description",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "x", topology: "custom", description: "a\u0000b" },
    field: "description",
  },
  {
    name: "NUL in a role",
    method: "post",
    path: "/api/v1/systems/support/agents",
    body: { name: "x", role: "\u0000" },
    field: "role",
  },
  {
    name: "NUL in a model",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, model: "m\u0000" },
    field: "model",
  },
  {
    name: "NUL in params",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, params: { stop: ["\u0000"] } },
    field: "params.stop.0",
  },
  {
    name: "NUL in a params key",
    method: "post",
    path: `${A}/versions`,
    body: { ...V, params: { "a\u0000": 1 } },
    field: "params",
  },
  {
    name: "lone surrogate in params",
    method: "post",
    path: `${A}/versions`,
    raw: `{"kind":"fine_tuned","upstream":"fake","model":"m","params":{"x":"\\ud800"}}`,
    field: "params.x",
  },
  {
    name: "lone surrogate in a model",
    method: "post",
    path: `${A}/versions`,
    raw: `{"kind":"fine_tuned","upstream":"fake","model":"\\udc00"}`,
    field: "model",
  },
  {
    name: "NUL in a pin reason",
    method: "put",
    path: `${A}/pin`,
    body: { version: 1, reason: "\u0000" },
    field: "reason",
  },
  { name: "NUL in an audit filter", method: "get", path: "/api/v1/audit?object=%00", field: "object" },
  { name: "NUL in an audit actor", method: "get", path: "/api/v1/audit?actor=a%00", field: "actor" },
  {
    name: "params nested 40 deep",
    method: "post",
    path: `${A}/versions`,
    raw: `{"kind":"fine_tuned","upstream":"fake","model":"m","params":{"a":${deep(40)}}}`,
  },
  {
    name: "params nested 100000 deep",
    method: "post",
    path: `${A}/versions`,
    raw: `{"kind":"fine_tuned","upstream":"fake","model":"m","params":{"a":${deep(100_000)}}}`,
  },
  {
    name: "lineage nested 5000 deep",
    method: "post",
    path: `${A}/versions`,
    raw: `{"kind":"fine_tuned","upstream":"fake","model":"m","lineage":{"extra":${deep(5000)}}}`,
  },
  {
    name: "a number too large for JSON numbers in params",
    method: "post",
    path: `${A}/versions`,
    raw: '{"kind":"fine_tuned","upstream":"fake","model":"m","params":{"max_tokens":1e400}}',
    field: "params.max_tokens",
  },
  {
    name: "a number too large for JSON numbers as a cost",
    method: "post",
    path: `${A}/versions`,
    raw: '{"kind":"fine_tuned","upstream":"fake","model":"m","training_cost_usd":-1e999}',
    field: "training_cost_usd",
  },
].map((c) => ({ status: 400, code: "invalid_request", ...c }) as Case);

const MALFORMED: Case[] = [
  {
    name: "malformed JSON",
    method: "post",
    path: "/api/v1/systems",
    raw: '{"name": "x",',
    status: 400,
    code: "invalid_json",
  },
  {
    name: "JSON with a trailing comma",
    method: "put",
    path: `${A}/pin`,
    raw: '{"version": 1,}',
    status: 400,
    code: "invalid_json",
  },
  {
    name: "single quotes",
    method: "post",
    path: "/api/v1/systems",
    raw: "{'name': 'x'}",
    status: 400,
    code: "invalid_json",
  },
  {
    name: "JSON sent as text/plain",
    method: "post",
    path: "/api/v1/systems",
    raw: '{"name":"plain","topology":"custom"}',
    contentType: "text/plain",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "a form instead of JSON",
    method: "put",
    path: `${A}/pin`,
    raw: "version=1",
    contentType: "application/x-www-form-urlencoded",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "an unsupported charset",
    method: "post",
    path: "/api/v1/systems",
    raw: '{"name":"latin","topology":"custom"}',
    contentType: "application/json; charset=latin1",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "undecodable path",
    method: "get",
    path: "/api/v1/systems/%E0%A4%A",
    status: 400,
    code: "invalid_request",
  },
  {
    name: "undecodable version",
    method: "get",
    path: `${A}/versions/%FF`,
    status: 400,
    code: "invalid_request",
  },
  {
    name: "oversized body (> 1 MiB)",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "big", topology: "custom", description: "x".repeat(1024 * 1024 + 16) },
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "versions are immutable: no PUT",
    method: "put",
    path: `${A}/versions/1`,
    body: { model: "other" },
    status: 404,
    code: "route_not_found",
  },
  {
    name: "versions are immutable: no PATCH",
    method: "patch",
    path: `${A}/versions/1`,
    body: { model: "other" },
    status: 404,
    code: "route_not_found",
  },
  {
    name: "versions are immutable: no DELETE",
    method: "delete",
    path: `${A}/versions/1`,
    status: 404,
    code: "route_not_found",
  },
];

const CONFLICTS: Case[] = [
  {
    name: "duplicate system",
    method: "post",
    path: "/api/v1/systems",
    body: { name: "support", topology: "custom" },
    status: 409,
    code: "already_exists",
    field: "name",
  },
  {
    name: "duplicate agent",
    method: "post",
    path: "/api/v1/systems/support/agents",
    body: { name: "coordinator" },
    status: 409,
    code: "already_exists",
    field: "name",
  },
  {
    name: "duplicate upstream",
    method: "post",
    path: "/api/v1/upstreams",
    body: { name: "fake", base_url: "http://h/v1" },
    status: 409,
    code: "already_exists",
    field: "name",
  },
  {
    name: "duplicate token",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "taken", scopes: ["read"] },
    status: 409,
    code: "already_exists",
    field: "name",
  },
  {
    name: "duplicate of a revoked token",
    method: "post",
    path: "/api/v1/tokens",
    body: { name: "gone", scopes: ["read"] },
    status: 409,
    code: "already_exists",
    field: "name",
  },
  {
    name: "deleting champion",
    method: "delete",
    path: `${A}/aliases/champion`,
    status: 409,
    code: "alias_protected",
  },
  {
    name: "deleting an upstream in use",
    method: "delete",
    path: "/api/v1/upstreams/fake",
    status: 409,
    code: "in_use",
  },
  {
    name: "rollback with no earlier champion",
    method: "post",
    path: "/api/v1/systems/support/agents/solo/rollback",
    body: { reason: "x" },
    status: 409,
    code: "no_rollback_target",
  },
];

const GROUPS: Array<[string, Case[]]> = [
  ["wrong types", WRONG_TYPES],
  ["missing required fields", MISSING],
  ["unknown fields", UNKNOWN_FIELDS],
  ["unknown names", UNKNOWN_NAMES],
  ["invalid names in bodies", INVALID_NAMES],
  ["invalid path parameters", INVALID_PATHS],
  ["values the database cannot store", UNSTORABLE],
  ["malformed requests", MALFORMED],
  ["conflicts", CONFLICTS],
];

describe.each(backends())("admin API bad input on %s", (backend) => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance(backend);
    await seedAgent(t, { versions: 2 });
    await seedAgent(t, { agent: "solo", versions: 1 });
    for (const name of ["taken", "gone"]) {
      const res = await t.http
        .post("/api/v1/tokens")
        .set("authorization", t.auth)
        .send({ name, scopes: ["read"] });
      expect(res.status).toBe(201);
    }
    expect((await t.http.delete("/api/v1/tokens/gone").set("authorization", t.auth)).status).toBe(200);
  });
  afterAll(() => t?.close());

  const send = (c: Case) => {
    const req = t.http[c.method](c.path).set("authorization", t.auth);
    if (c.raw !== undefined) return req.set("content-type", c.contentType ?? "application/json").send(c.raw);
    return c.body === undefined ? req : req.send(c.body as object);
  };

  describe.each(GROUPS)("%s", (_group, cases) => {
    it.each(cases)("$name → $status $code", async (c) => {
      const res = await expectNoChange(t, () => send(c));
      expectError(res, c.status, c.code, c.field && !c.unnamedParam ? { param: c.field } : {});
      if (c.field && c.status === 400) expect(res.body.error.message).toContain(c.field);
      // Nothing sent is echoed back as a secret: key-like values never appear in answers.
      expect(res.text).not.toContain("sk-live-0123456789");
    });
  });

  it("a rejected request leaves the lists and the audit log as they were", async () => {
    const get = async (path: string) => {
      const res = await t.http.get(path).set("authorization", t.auth);
      expect(res.status).toBe(200);
      return res.body;
    };
    const systems = await get("/api/v1/systems");
    expect(systems.data.map((s: { name: string }) => s.name)).toEqual(["support"]);
    expect(systems.data[0].agents).toBe(2);
    const agents = await get("/api/v1/systems/support/agents");
    expect(agents.data.map((a: { name: string }) => a.name)).toEqual(["coordinator", "solo"]);
    expect(agents.data[0]).toMatchObject({ versions: 2, champion: 1, pin: null, aliases: { champion: 1 } });
    expect((await get("/api/v1/upstreams")).data.map((u: { name: string }) => u.name)).toEqual(["fake"]);
    const tokens = await get("/api/v1/tokens");
    expect(tokens.data.map((k: { name: string }) => k.name)).toEqual(["taken", "gone"]);
    // Exactly the seed's mutations, nothing from the hundred-odd rejected requests.
    const audit = await get("/api/v1/audit?limit=1000");
    expect(audit.data.map((e: { action: string }) => e.action).reverse()).toEqual([
      "upstream.create",
      "system.create",
      "agent.create",
      "version.register",
      "alias.set",
      "version.register",
      "agent.create",
      "version.register",
      "alias.set",
      "token.create",
      "token.create",
      "token.revoke",
    ]);
  });

  it("an oversized body is refused whatever its shape", async () => {
    const big = await expectNoChange(t, () =>
      t.http
        .put(`${A}/pin`)
        .set("authorization", t.auth)
        .set("content-type", "application/json")
        .send(`{"version": 1, "reason": "${"r".repeat(1_100_000)}"}`),
    );
    expectError(big, 413, "payload_too_large");
    // Just under the limit is read (and then validated normally).
    const under = await expectNoChange(t, () =>
      t.http
        .put(`${A}/pin`)
        .set("authorization", t.auth)
        .send({ version: 1, reason: "r".repeat(1_000_000) }),
    );
    expectError(under, 400, "invalid_request", { param: "reason" });
  });

  it("names of exactly 64 characters are accepted", async () => {
    const name = `a${"-".repeat(62)}z`;
    const res = await t.http
      .post("/api/v1/systems")
      .set("authorization", t.auth)
      .send({ name, topology: "custom" });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe(name);
    const got = await t.http.get(`/api/v1/systems/${name}`).set("authorization", t.auth);
    expect(got.status).toBe(200);
  });
});
