/** What the demo prints once its script is done and the gateway keeps serving. */
import { print } from "../cli/output.js";

export function printServing(info: { url: string; port: number; adminToken: string; dataDir: string }): void {
  const { url, port, adminToken } = info;
  print();
  print("agentgate keeps running (Ctrl-C to stop):");
  print(
    `  OpenAI-compatible proxy  ${url}/v1   (headers X-Agent: support/coordinator, X-Session-Id: <run id>)`,
  );
  print(`  admin API                ${url}/api/v1   (OpenAPI document: ${url}/openapi.json)`);
  print(`  Prometheus metrics       ${url}/metrics`);
  print(`  admin token              ${adminToken}`);
  print(`  data directory           ${info.dataDir}`);
  print();
  print("Try the CLI against it:");
  print(`  export AGENTGATE_URL=${url} AGENTGATE_TOKEN=${adminToken}`);
  print("  npx agentgate experiments list");
  print("  npx agentgate experiments report 2");
  print("  npx agentgate audit --limit 20");
  print();
  print(
    "Prometheus and Grafana (docs/demo.md): scrape job 'agentgate', target the host:port above, path /metrics.",
  );
  print(
    "  From the repository, with Docker (the demo on port 8080, listening where containers reach it: --host 0.0.0.0):",
  );
  print("    docker compose -f deploy/demo/docker-compose.yml up -d");
  if (port !== 8080)
    print(`    (this demo is on port ${port}: edit the target in deploy/demo/prometheus.yml)`);
  print(
    "    Grafana: http://127.0.0.1:3000 (admin/admin), dashboards in the 'agentgate' folder; Prometheus: http://127.0.0.1:9090",
  );
}
