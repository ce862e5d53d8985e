/**
 * The generated observability files as they are committed: `generatedFiles()` passed through the
 * repository's formatter (Biome formats the YAML rules and the Markdown doc; the dashboards' JSON
 * is excluded from it and written by JSON.stringify). Used by `npm run dashboards` and its test.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles, OPERATIONS_DOC } from "../src/observability/generate.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIOME = path.join(REPO_ROOT, "node_modules/.bin/biome");

function biomeFormat(rel: string, content: string): string {
  const r = spawnSync(BIOME, ["format", `--stdin-file-path=${rel}`], {
    cwd: REPO_ROOT,
    input: content,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`biome format ${rel} failed: ${r.stderr}`);
  return r.stdout;
}

/** Repository path → content, formatted as `biome check` wants it. */
export function observabilityFiles(): Record<string, string> {
  const files = generatedFiles(readFileSync(path.join(REPO_ROOT, OPERATIONS_DOC), "utf8"));
  return Object.fromEntries(
    Object.entries(files).map(([rel, content]) => [
      rel,
      rel.endsWith(".json") ? content : biomeFormat(rel, content),
    ]),
  );
}
