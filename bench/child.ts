/**
 * Entry point of the bench's child processes: `child.ts upstream`, `child.ts bare <upstream
 * origin>` or `child.ts gateway` (configured by the environment the parent passes, as a real
 * deployment is). Each one serves on 127.0.0.1, then answers the parent over IPC:
 *   { type: "cpu" }  → its own CPU time (`process.cpuUsage()`, µs) after settling: the gateway
 *                      first writes the events still queued, so their cost lands in the phase
 *                      that caused them;
 *   { type: "profile" } → starts the V8 CPU profiler (BENCH_PROFILE); with `file`, stops it and
 *                      writes the profile there: only the measured phases are profiled, not the
 *                      start-up, the migrations or the warm-up;
 *   { type: "stop" } → closes and exits.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { startBareProxy } from "./bare-proxy.js";
import { isHeapProfile } from "./profile.js";
import { type Mark, recordStalls } from "./stalls.js";
import { startBenchUpstream } from "./upstream.js";

export type ToChild = { type: "cpu"; id: number } | { type: "profile"; file?: string } | { type: "stop" };
export type FromChild =
  | { type: "ready"; url: string }
  | { type: "profiled" }
  | { type: "cpu"; id: number; user: number; system: number; rss: number; marks?: Mark[] };

type Served = { url: string; settle?: () => Promise<void>; close(): Promise<void> };

async function start(role: string | undefined, arg: string | undefined): Promise<Served> {
  switch (role) {
    case "upstream": {
      const { url, server } = await startBenchUpstream();
      return { url, close: () => new Promise((r) => server.close(() => r())) };
    }
    case "bare": {
      if (!arg) throw new Error("bare: missing upstream origin");
      const { url, server, pool } = await startBareProxy(arg);
      return {
        url,
        close: async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
          await pool.close();
        },
      };
    }
    case "gateway": {
      const { loadConfig } = await import("../src/config.js");
      const { startAgentgate } = await import("../src/main.js");
      // As `agentgate serve` does.
      const { applyRuntimeV8Flags } = await import("../src/node-flags.js");
      applyRuntimeV8Flags();
      const ag = await startAgentgate(loadConfig(process.env));
      // Diagnosis only (BENCH_DIAG): drop every event, to show what recording costs.
      if (process.env.BENCH_DISCARD_EVENTS === "1") ag.recorder.record = () => {};
      if (process.env.BENCH_STALLS === "1") takeMarks = recordStalls(ag.recorder);
      return { url: ag.url, settle: () => ag.recorder.flush(), close: () => ag.close() };
    }
    default:
      throw new Error(`unknown role '${role}'`);
  }
}

const send = (m: FromChild) => process.send?.(m);
/** BENCH_STALLS: the gateway's pauses since the last CPU reading (see stalls.ts). */
let takeMarks: (() => Mark[]) | undefined;

const served = await start(process.argv[2], process.argv[3]);
let inspector: Session | null = null;
// BENCH_PROFILE=heap samples allocations instead (collected objects included: the point is what
// each call allocates, not what stays). BENCH_PROFILE=promoted leaves out what a scavenge collected:
// what remains outlived the young generation, the garbage that only a mark-compact collects.
const heap = isHeapProfile(process.env.BENCH_PROFILE);
const promotedOnly = process.env.BENCH_PROFILE === "promoted";
const profile = async (file: string | undefined) => {
  if (!file) {
    inspector = new Session();
    inspector.connect();
    if (heap) {
      await inspector.post("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !promotedOnly,
      });
    } else {
      await inspector.post("Profiler.enable");
      await inspector.post("Profiler.setSamplingInterval", { interval: 500 });
      await inspector.post("Profiler.start");
    }
  } else if (inspector) {
    const { profile } = heap
      ? await inspector.post("HeapProfiler.stopSampling")
      : await inspector.post("Profiler.stop");
    writeFileSync(file, JSON.stringify(profile));
    inspector.disconnect();
    inspector = null;
  }
  send({ type: "profiled" });
};
process.on("message", (m: ToChild) => {
  if (m.type === "profile") void profile(m.file);
  else if (m.type === "cpu") {
    void (served.settle?.() ?? Promise.resolve()).then(() => {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", id: m.id, user, system, rss: process.memoryUsage.rss(), marks: takeMarks?.() });
    });
  } else if (m.type === "stop") {
    void served.close().finally(() => process.exit(0));
  }
});
// The parent's death must not leave a server behind.
process.on("disconnect", () => process.exit(0));
send({ type: "ready", url: served.url });
