/** Admin API routes of the registry: thin adapters from validated HTTP input to the services. */
import { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/route.js";
import type { AliasService } from "./aliases.js";
import type { CatalogService } from "./catalog.js";
import type { PinService } from "./pins.js";
import * as s from "./schemas.js";
import type { UpstreamService } from "./upstreams.js";
import type { VersionService } from "./versions.js";

export type RegistryServices = {
  upstreams: UpstreamService;
  catalog: CatalogService;
  versions: VersionService;
  aliases: AliasService;
  pins: PinService;
};

const AGENT = "/systems/:system/agents/:agent";
const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });
const pinView = z.object({
  system: z.string(),
  agent: z.string(),
  version: z.number(),
  reason: z.string().nullable(),
  by: z.string(),
});

export function registryRoutes(r: RegistryServices): RouteSpec[] {
  return [
    // Upstreams
    defineRoute({
      method: "post",
      path: "/upstreams",
      scope: "write",
      tag: "upstreams",
      summary: "Register an upstream",
      body: s.upstreamCreate,
      response: { status: 201, schema: s.upstream },
      handler: ({ actor, body }) => r.upstreams.create(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/upstreams",
      scope: "read",
      tag: "upstreams",
      summary: "List upstreams",
      response: { schema: list(s.upstream) },
      handler: async () => ({ data: await r.upstreams.list() }),
    }),
    defineRoute({
      method: "get",
      path: "/upstreams/:name",
      scope: "read",
      tag: "upstreams",
      summary: "Show an upstream",
      params: s.pathUpstream,
      response: { schema: s.upstream },
      handler: ({ params }) => r.upstreams.get(params.name),
    }),
    defineRoute({
      method: "patch",
      path: "/upstreams/:name",
      scope: "write",
      tag: "upstreams",
      summary: "Change an upstream's URL, key variable or timeouts",
      params: s.pathUpstream,
      body: s.upstreamUpdate,
      response: { schema: s.upstream },
      handler: ({ actor, params, body }) => r.upstreams.update(actor, params.name, body),
    }),
    defineRoute({
      method: "delete",
      path: "/upstreams/:name",
      scope: "write",
      tag: "upstreams",
      summary: "Delete an unused upstream",
      params: s.pathUpstream,
      handler: ({ actor, params }) => r.upstreams.delete(actor, params.name),
    }),

    // Systems and agents
    defineRoute({
      method: "post",
      path: "/systems",
      scope: "write",
      tag: "systems",
      summary: "Create a multi-agent system",
      body: s.systemCreate,
      response: { status: 201, schema: s.system },
      handler: ({ actor, body }) => r.catalog.createSystem(actor, body),
    }),
    defineRoute({
      method: "get",
      path: "/systems",
      scope: "read",
      tag: "systems",
      summary: "List systems",
      response: { schema: list(s.system) },
      handler: async () => ({ data: await r.catalog.listSystems() }),
    }),
    defineRoute({
      method: "get",
      path: "/systems/:system",
      scope: "read",
      tag: "systems",
      summary: "Show a system",
      params: s.pathSystem,
      response: { schema: s.system },
      handler: ({ params }) => r.catalog.getSystem(params.system),
    }),
    defineRoute({
      method: "post",
      path: "/systems/:system/agents",
      scope: "write",
      tag: "agents",
      summary: "Add an agent to a system",
      params: s.pathSystem,
      body: s.agentCreate,
      response: { status: 201, schema: s.agent },
      handler: ({ actor, params, body }) => r.catalog.createAgent(actor, params.system, body),
    }),
    defineRoute({
      method: "get",
      path: "/systems/:system/agents",
      scope: "read",
      tag: "agents",
      summary: "List a system's agents",
      params: s.pathSystem,
      response: { schema: list(s.agent) },
      handler: async ({ params }) => ({ data: await r.catalog.listAgents(params.system) }),
    }),
    defineRoute({
      method: "get",
      path: AGENT,
      scope: "read",
      tag: "agents",
      summary: "Show an agent with its champion, aliases and pin",
      params: s.pathAgent,
      response: { schema: s.agent },
      handler: ({ params }) => r.catalog.getAgent(params.system, params.agent),
    }),

    // Versions
    defineRoute({
      method: "post",
      path: `${AGENT}/versions`,
      scope: "write",
      tag: "versions",
      summary: "Register a new version (numbered 1, 2, 3… per agent)",
      params: s.pathAgent,
      body: s.versionCreate,
      response: { status: 201, schema: s.version },
      handler: ({ actor, params, body }) => r.versions.register(actor, params.system, params.agent, body),
    }),
    defineRoute({
      method: "get",
      path: `${AGENT}/versions`,
      scope: "read",
      tag: "versions",
      summary: "List an agent's versions",
      params: s.pathAgent,
      response: { schema: list(s.version) },
      handler: async ({ params }) => ({ data: await r.versions.list(params.system, params.agent) }),
    }),
    defineRoute({
      method: "get",
      path: `${AGENT}/versions/:n`,
      scope: "read",
      tag: "versions",
      summary: "Show one version",
      params: s.pathVersion,
      response: { schema: s.version },
      handler: ({ params }) => r.versions.get(params.system, params.agent, params.n),
    }),

    // Aliases
    defineRoute({
      method: "get",
      path: `${AGENT}/aliases`,
      scope: "read",
      tag: "aliases",
      summary: "List an agent's aliases",
      params: s.pathAgent,
      response: { schema: list(s.aliasView) },
      handler: async ({ params }) => ({ data: await r.aliases.list(params.system, params.agent) }),
    }),
    defineRoute({
      method: "get",
      path: `${AGENT}/aliases/:alias`,
      scope: "read",
      tag: "aliases",
      summary: "Show an alias and its history",
      params: s.pathAlias,
      response: { schema: s.aliasView.extend({ history: z.array(s.aliasHistoryEntry) }) },
      handler: ({ params }) => r.aliases.get(params.system, params.agent, params.alias),
    }),
    defineRoute({
      method: "put",
      path: `${AGENT}/aliases/:alias`,
      scope: "write",
      tag: "aliases",
      summary: "Point an alias at a version",
      params: s.pathAlias,
      body: s.aliasSet,
      response: { schema: s.aliasView },
      handler: ({ actor, params, body }) =>
        r.aliases.set(actor, params.system, params.agent, params.alias, body.version, body.reason),
    }),
    defineRoute({
      method: "delete",
      path: `${AGENT}/aliases/:alias`,
      scope: "write",
      tag: "aliases",
      summary: "Remove an alias (not champion)",
      params: s.pathAlias,
      body: s.reasonOnly,
      handler: ({ actor, params, body }) =>
        r.aliases.delete(actor, params.system, params.agent, params.alias, body.reason),
    }),

    // Pin and rollback
    defineRoute({
      method: "put",
      path: `${AGENT}/pin`,
      scope: "write",
      tag: "rollout",
      summary: "Pin all of an agent's traffic to one version",
      params: s.pathAgent,
      body: s.pinSet,
      response: { schema: pinView },
      handler: ({ actor, params, body }) =>
        r.pins.pin(actor, params.system, params.agent, body.version, body.reason),
    }),
    defineRoute({
      method: "delete",
      path: `${AGENT}/pin`,
      scope: "write",
      tag: "rollout",
      summary: "Remove an agent's pin",
      params: s.pathAgent,
      body: s.reasonOnly,
      handler: ({ actor, params, body }) => r.pins.unpin(actor, params.system, params.agent, body.reason),
    }),
    defineRoute({
      method: "post",
      path: `${AGENT}/rollback`,
      scope: "write",
      tag: "rollout",
      summary: "Move champion (and any pin) back to the previous good version",
      params: s.pathAgent,
      body: s.rollbackBody,
      response: { schema: s.rollbackResult },
      handler: ({ actor, params, body }) => r.pins.rollback(actor, params.system, params.agent, body),
    }),
  ];
}
