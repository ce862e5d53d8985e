/**
 * `npm run dashboards`: writes the Grafana dashboards (dashboards/*.json), the Prometheus alerting
 * rules (deploy/prometheus/rules.yml) and the metric reference in docs/operations.md, all built
 * from the metric catalog in src/metrics.ts. `--check` writes nothing and exits 1 when a committed
 * file differs from what would be generated.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { observabilityFiles, REPO_ROOT } from "./observability-files.js";

const check = process.argv.includes("--check");
let stale = 0;
for (const [rel, content] of Object.entries(observabilityFiles())) {
  const file = path.join(REPO_ROOT, rel);
  let current: string | null = null;
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // a new file
  }
  if (current === content) continue;
  stale++;
  if (check) {
    console.error(`${rel} is out of date: run npm run dashboards`);
  } else {
    writeFileSync(file, content);
    console.log(`wrote ${rel}`);
  }
}
if (check && stale > 0) process.exit(1);
if (stale === 0) console.log("dashboards, rules and metric reference are up to date");
