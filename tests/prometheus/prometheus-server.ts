/**
 * A real Prometheus server (Debian's `prometheus` package) for the tests: its own config with a 1 s
 * scrape interval, its own temporary TSDB, its own loopback port; and `promtool`. Both binaries
 * must be installed: the suite fails, never skips, without them (.ci/run installs them).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../helpers/gateway-process.js";

/** The installed path of `name`, or a failure that says how to install it. */
export function requireBinary(name: "prometheus" | "promtool"): string {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const bin = found.stdout.trim();
  if (found.status !== 0 || bin === "") {
    throw new Error(
      `'${name}' is not installed: this suite runs a real Prometheus. Install Debian's package: apt-get install -y prometheus`,
    );
  }
  return bin;
}

export type PromtoolResult = { status: number | null; output: string };

export function promtool(args: string[], input?: string): PromtoolResult {
  const r = spawnSync(requireBinary("promtool"), args, { input, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export type Sample = { metric: Record<string, string>; value: [number, string] };
export type QueryResult =
  | { resultType: "vector"; result: Sample[] }
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "matrix" | "string"; result: unknown };

export type PrometheusServer = {
  url: string;
  /** `GET /api/v1/query`; throws with Prometheus' error text unless the status is success. */
  query(expr: string, time?: number): Promise<QueryResult>;
  /** `GET /api/v1/<path>` data. */
  api<T>(pathAndQuery: string): Promise<T>;
  /** Resolves once every target has been scraped after the call (at least once). */
  scraped(): Promise<void>;
  close(): Promise<void>;
};

/**
 * Starts Prometheus scraping `targets` every second as job `agentgate` and evaluating `ruleFiles`
 * every second; resolves when it is ready.
 */
export async function startPrometheus(targets: string[], ruleFiles: string[]): Promise<PrometheusServer> {
  const bin = requireBinary("prometheus");
  const dir = mkdtempSync(path.join(os.tmpdir(), "agentgate-prometheus-"));
  const config = path.join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "rule_files:",
      ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
      "scrape_configs:",
      "  - job_name: agentgate",
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: ${JSON.stringify(targets)}`,
      "",
    ].join("\n"),
  );
  const check = promtool(["check", "config", config]);
  if (check.status !== 0) throw new Error(`promtool check config failed:\n${check.output}`);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited during start:\n${stderr}`);
    if (Date.now() > deadline) {
      await close();
      throw new Error(`prometheus not ready within 30 s:\n${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${pathAndQuery}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== "success") throw new Error(`${pathAndQuery}: ${body.errorType}: ${body.error}`);
    return body.data;
  };
  const query = (expr: string, time?: number) => {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set("time", String(time));
    return api<QueryResult>(`query?${params}`);
  };
  const scraped = async () => {
    const since = Date.now() / 1000;
    const until = Date.now() + 15_000;
    for (;;) {
      // Each target's last scrape time; all of them must be after `since`.
      const r = await query('timestamp(up{job="agentgate"})');
      const times = r.resultType === "vector" ? r.result.map((s) => Number(s.value[1])) : [];
      if (times.length === targets.length && times.every((t) => t > since)) return;
      if (Date.now() > until) throw new Error(`prometheus did not scrape ${targets.join(", ")} within 15 s`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  return { url, api, query, scraped, close };
}

/** The text a `GET <url>/metrics` answers, linted by `promtool check metrics`. */
export async function lintMetrics(url: string): Promise<PromtoolResult> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return promtool(["check", "metrics"], text);
}
