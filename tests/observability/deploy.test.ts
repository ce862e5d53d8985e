/**
 * The deployment files agree with the code and with each other: the Dockerfile's environment
 * and command, docker-compose.yml's replicas (configuration the server accepts, database host,
 * ports), the Prometheus scrape targets and the Grafana provisioning paths. Their syntax is
 * checked by real validators elsewhere (hadolint and the compose JSON schema in deploy/check.sh,
 * promtool in the test:prometheus suite); this test holds their content to the code.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import pkg from "../../package.json" with { type: "json" };
import { CONFIG_VARIABLES, loadConfig } from "../../src/config.js";
import { SERVER_NODE_FLAGS } from "../../src/node-flags.js";
import { REPO_ROOT } from "../helpers/gateway-process.js";

const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), "utf8");
const compose = read("docker-compose.yml");
const dockerfile = read("Dockerfile");

/** The `KEY: value` lines of a two-space-indented map block that starts after `header`. */
function mapAfter(text: string, header: RegExp): Record<string, string> {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => header.test(l));
  if (start < 0) throw new Error(`no ${header} block`);
  const indent = (lines[start + 1] ?? "").search(/\S/);
  const out: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    if (line.search(/\S/) < indent) break;
    const m = /^\s*([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
    if (m && line.search(/\S/) === indent) out[m[1] as string] = (m[2] as string).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** Compose's `${VAR:-default}` and `${VAR:?error}` as compose would fill them in for a test run. */
const interpolate = (v: string) =>
  v.replace(/\$\{(\w+)(?::-([^}]*)|:\?[^}]*)\}/g, (_, name: string, dflt?: string) =>
    dflt !== undefined ? dflt : `test-value-for-${name.toLowerCase()}`,
  );

/** The image's ENV instruction, as a map. */
function imageEnv(): Record<string, string> {
  const m = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile);
  const text = (m?.[1] ?? "").replace(/\\\n/g, " ");
  return Object.fromEntries([...text.matchAll(/(\w+)=(\S+)/g)].map((x) => [x[1], x[2]]));
}

const servicesBlock = compose.slice(compose.indexOf("\nservices:\n"), compose.indexOf("\nvolumes:\n"));
const services = [...servicesBlock.matchAll(/^ {2}([a-z][\w-]*):\s*$/gm)].map((m) => m[1] as string);
const replicas = services.filter((s) => /^agentgate-\d+$/.test(s));

describe("deployment files", () => {
  it("Dockerfile: multi-stage slim Node, production dependencies, non-root, 0.0.0.0, health check, serve", () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).toHaveLength(2);
    for (const f of froms) expect(f).toMatch(/^node:\d+-slim$/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/^USER (?!root|0)\S+$/m);
    const env = imageEnv();
    expect(env).toMatchObject({ NODE_ENV: "production", HOST: "0.0.0.0", PORT: "8080" });
    const config = loadConfig(env);
    expect(config).toMatchObject({ host: "0.0.0.0", port: 8080 });
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${config.port}$`, "m"));
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    // The command is the package's own binary, built from src/cli/index.ts.
    expect(pkg.bin.agentgate).toBe("dist/src/cli/index.js");
    expect(existsSync(path.join(REPO_ROOT, "src/cli/index.ts"))).toBe(true);
    // …with the server's Node flags (src/node-flags.ts; tests/cli/node-flags.test.ts checks them all).
    const cmd = dockerfile.split("\n").find((l) => l.startsWith("CMD "));
    expect(JSON.parse((cmd ?? "CMD null").slice(4))).toEqual([
      "node",
      ...SERVER_NODE_FLAGS,
      "dist/src/cli/index.js",
      "serve",
    ]);
  });

  it("docker-compose.yml: PostgreSQL, two replicas the server accepts the configuration of, Prometheus, Grafana", () => {
    expect(services).toEqual(["postgres", "agentgate-1", "agentgate-2", "prometheus", "grafana"]);
    expect(compose).toMatch(/^ {4}image: postgres:15$/m);
    const env = mapAfter(compose, /^x-agentgate: &agentgate$/);
    expect(env.build).toBe(".");
    const vars = mapAfter(compose, /^ {2}environment:$/);
    const configKeys = Object.keys(vars).filter((k) => /^(AGENTGATE_|DATABASE_URL$|PORT$|HOST$)/.test(k));
    expect(configKeys).toEqual(["DATABASE_URL", "AGENTGATE_ADMIN_TOKEN", "AGENTGATE_LOG_LEVEL"]);
    for (const k of configKeys) expect(CONFIG_VARIABLES).toContain(k);
    // Anything else is an upstream API key passed through from the shell.
    for (const k of Object.keys(vars).filter((x) => !configKeys.includes(x))) expect(vars[k]).toBe("");
    // The admin token must be given: compose refuses to start without it.
    expect(vars.AGENTGATE_ADMIN_TOKEN).toMatch(/^\$\{AGENTGATE_ADMIN_TOKEN:\?/);

    const config = loadConfig({
      ...imageEnv(),
      ...Object.fromEntries(configKeys.map((k) => [k, interpolate(vars[k] as string)])),
    });
    const db = new URL(config.databaseUrl as string);
    expect(db.hostname).toBe("postgres");
    expect(db.port).toBe("5432");
    const pg = mapAfter(compose, /^ {4}environment:$/);
    expect(db.username).toBe(pg.POSTGRES_USER);
    expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
    expect(interpolate(pg.POSTGRES_PASSWORD as string)).toBe(decodeURIComponent(db.password));

    expect(replicas).toEqual(["agentgate-1", "agentgate-2"]);
    const published = [...compose.matchAll(/^ {6}- "127\.0\.0\.1:(\d+):(\d+)"$/gm)].map((m) => [m[1], m[2]]);
    const replicaPorts = published
      .filter(([, inside]) => inside === String(config.port))
      .map(([host]) => host);
    expect(replicaPorts).toEqual(["8081", "8082"]);
    // Each replica has its own spool volume (the event spool is per replica, never shared).
    expect(compose).toMatch(/- spool-1:\/var\/lib\/agentgate/);
    expect(compose).toMatch(/- spool-2:\/var\/lib\/agentgate/);
    expect(imageEnv().AGENTGATE_DATA_DIR).toBe("/var/lib/agentgate");
  });

  it("Prometheus scrapes every replica and loads the rules; Grafana gets the data source and dashboards", () => {
    const prom = read("deploy/prometheus/prometheus.yml");
    // The first uncommented `targets:` (the alerting example is commented out).
    const targets = JSON.parse(/^ +- targets: (\[.*\])$/m.exec(prom)?.[1] ?? "[]") as string[];
    expect(targets).toEqual(replicas.map((r) => `${r}:8080`));
    expect(prom).toMatch(/job_name: agentgate\n/);
    expect(prom).toMatch(/metrics_path: \/metrics\n/);
    expect(prom).toMatch(/rule_files:\n\s+- rules.yml\n/);
    expect(compose).toContain("- ./deploy/prometheus:/etc/prometheus:ro");
    expect(compose).toContain("--config.file=/etc/prometheus/prometheus.yml");

    const datasource = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    expect(datasource).toMatch(/url: http:\/\/prometheus:9090\n/);
    expect(datasource).toMatch(/type: prometheus\n/);
    expect(compose).toContain('- "127.0.0.1:9090:9090"');
    const provider = read("deploy/grafana/provisioning/dashboards/agentgate.yml");
    const dashboardsPath = /path: (\S+)/.exec(provider)?.[1];
    expect(compose).toContain(`- ./dashboards:${dashboardsPath}:ro`);
    expect(compose).toContain("- ./deploy/grafana/provisioning:/etc/grafana/provisioning:ro");
    for (const m of compose.matchAll(/^ {6}- (\.\/[^:]+):/gm))
      expect(existsSync(path.join(REPO_ROOT, m[1] as string)), m[1]).toBe(true);
  });
});
