/**
 * BENCH_PIN: CPU placement during the open loop. The proxy being measured gets the upper half of
 * the machine's CPUs to itself; the load generator (this process), the fake upstream, the idle
 * targets and the local PostgreSQL server's processes share the lower half. On a machine of two
 * vCPUs the bench otherwise measures the proxy's latency together with the scheduler's placement
 * of four busy processes on two CPUs, which production does not have: there, the clients, the
 * upstream and the database run on other machines. The closed loop and the streams stay
 * unpinned: at saturation a lower half that runs the load generator and the upstream alone would
 * cap the fast bare proxy sooner than the gateway, and flatter the ratio.
 *
 * Affinity is set with `taskset` (util-linux) on every thread of each process; PostgreSQL's
 * processes are found by name in /proc, and only a server on this machine that this user may
 * change is moved (otherwise the bench says so and goes on).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";

const cpuCount = os.cpus().length;
const half = Math.max(1, Math.floor(cpuCount / 2));
const range = (from: number, to: number) => (from === to ? `${from}` : `${from}-${to}`);
export const PROXY_CPUS = range(half, cpuCount - 1);
export const OTHER_CPUS = range(0, half - 1);
const ALL_CPUS = range(0, cpuCount - 1);

/** Whether this machine has CPUs to split and `taskset` to split them with. */
export function pinningAvailable(): string | null {
  if (cpuCount < 2) return "one CPU";
  const r = spawnSync("taskset", ["-V"], { stdio: "ignore" });
  return r.status === 0 ? null : "no taskset (util-linux)";
}

function setAffinity(pid: number, cpus: string): boolean {
  return spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" }).status === 0;
}

/** The local PostgreSQL server's processes (postmaster, backends, background workers). */
function postgresPids(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

let warned = false;

/** Places `proxy` alone on PROXY_CPUS and `others` (and PostgreSQL) on OTHER_CPUS. */
export function pin(proxy: number | null, others: number[]): void {
  if (proxy !== null) setAffinity(proxy, PROXY_CPUS);
  let refused = 0;
  for (const pid of [...others, ...postgresPids()]) if (!setAffinity(pid, OTHER_CPUS)) refused++;
  if (refused > 0 && !warned) {
    warned = true;
    console.log(`  (BENCH_PIN: ${refused} processes could not be moved, e.g. PostgreSQL's; going on)`);
  }
}

/** Every process back on every CPU. */
export function unpin(pids: number[]): void {
  for (const pid of [...pids, ...postgresPids()]) setAffinity(pid, ALL_CPUS);
}
