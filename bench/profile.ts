/**
 * Summarizes a V8 `.cpuprofile` (the bench's BENCH_PROFILE=1, or `node --cpu-prof`): self time by
 * function and by where the code lives (agentgate's src/ files, each npm package, Node internals,
 * GC, idle), and total time (self + callees) of agentgate's own functions.
 * Also runnable on its own: `npx tsx bench/profile.ts <file.cpuprofile> [top]`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Whether a BENCH_PROFILE value samples allocations rather than CPU (the parent and each child decide it). */
export const isHeapProfile = (value: string | undefined) => value === "heap" || value === "promoted";

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileRow = { name: string; ms: number; share: number };

function whereOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  // The bench's compiled children live in node_modules/.cache/agentgate-bench-<pid>/.
  const built = /\/agentgate-bench-\d+\/(.*)$/.exec(url);
  if (built) return built[1] as string;
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/");
    return `npm:${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/").slice(0, 2).join("/")}`;
  const src = url.indexOf("/src/");
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, "");
}

export type ProfileSummary = {
  byFunction: ProfileRow[];
  byPlace: ProfileRow[];
  /** Self + callees, for functions in agentgate's src/ (a recursive call counted once). */
  srcTotal: ProfileRow[];
  totalMs: number;
};

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const place = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url } = n.callFrame;
    const where = whereOf(url, functionName);
    const key = keyOf(n);
    fn.set(key, (fn.get(key) ?? 0) + us);
    place.set(where, (place.get(where) ?? 0) + us);
    total += us;
  }
  const busy = total - (place.get("(idle)") ?? 0);
  const rows = (m: Map<string, number>) =>
    [...m]
      .filter(([k]) => k !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  // Total time: walk the call tree, adding each node's self time to every src/ function on its
  // stack (once per function, however deep the recursion).
  const srcTotal = new Map<string, number>();
  const root = p.nodes[0];
  const walk = (n: Node, active: Map<string, number>) => {
    const key = n.callFrame.url.includes("/src/") ? keyOf(n) : null;
    if (key) active.set(key, (active.get(key) ?? 0) + 1);
    const us = self.get(n.id) ?? 0;
    if (us > 0) for (const k of active.keys()) srcTotal.set(k, (srcTotal.get(k) ?? 0) + us);
    for (const c of n.children ?? []) {
      const child = byId.get(c);
      if (child) walk(child, active);
    }
    if (key) {
      const left = (active.get(key) ?? 1) - 1;
      if (left === 0) active.delete(key);
      else active.set(key, left);
    }
  };
  if (root) walk(root, new Map());
  return { byFunction: rows(fn), byPlace: rows(place), srcTotal: rows(srcTotal), totalMs: busy / 1000 };
}

type HeapNode = { callFrame: Node["callFrame"]; selfSize: number; children: HeapNode[] };

/**
 * Summarizes a sampling heap profile (BENCH_PROFILE=heap, collected objects included): bytes
 * allocated by function and by place, and in total (self + callees) under agentgate's functions.
 */
export function summarizeHeapProfile(file: string, top = 25): ProfileSummary {
  const { head } = JSON.parse(readFileSync(file, "utf8")) as { head: HeapNode };
  const fn = new Map<string, number>();
  const place = new Map<string, number>();
  const srcTotal = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode, stack: string[]) => {
    const key = keyOf(n as unknown as Node);
    const own = n.callFrame.url.includes("/src/") && !stack.includes(key) ? [...stack, key] : stack;
    if (n.selfSize > 0) {
      fn.set(key, (fn.get(key) ?? 0) + n.selfSize);
      const where = whereOf(n.callFrame.url, n.callFrame.functionName);
      place.set(where, (place.get(where) ?? 0) + n.selfSize);
      for (const k of own) srcTotal.set(k, (srcTotal.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, own);
  };
  walk(head, []);
  // Reuses ProfileSummary's shape with bytes where the CPU summary has microseconds.
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, ms: bytes, share: total > 0 ? bytes / total : 0 }));
  return { byFunction: rows(fn), byPlace: rows(place), srcTotal: rows(srcTotal), totalMs: total };
}

function keyOf(n: Node): string {
  const { functionName, url } = n.callFrame;
  return url ? `${functionName || "(anonymous)"} ${whereOf(url, functionName)}` : functionName || "(native)";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) throw new Error("usage: tsx bench/profile.ts <file.cpuprofile> [top]");
  const s = summarizeProfile(file, Number(process.argv[3] ?? 25));
  const show = (title: string, rows: ProfileRow[]) => {
    console.log(`\n${title} (share of ${s.totalMs.toFixed(0)} ms busy CPU)`);
    for (const r of rows)
      console.log(`${(r.share * 100).toFixed(1).padStart(6)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
  };
  show("Self time by place", s.byPlace);
  show("Self time by function", s.byFunction);
  show("Total time (self + callees) of agentgate's functions", s.srcTotal);
}
