/**
 * The keyed per-call families must expose exactly what prom-client's own counters and histograms
 * would for the same updates: same text, same series order, same bucket edges.
 */
import client from "prom-client";
import { describe, expect, it } from "vitest";
import { KeyedCounter, KeyedHistogram } from "../../src/keyed-metrics.js";
import { createMetrics } from "../../src/metrics.js";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const LABELS = ["system", "agent", "version", "arm", "route"] as const;

function pair() {
  const ours = new client.Registry();
  const theirs = new client.Registry();
  return {
    ours,
    theirs,
    counters: [
      new KeyedCounter("x_total", "a counter", [...LABELS, "status"], ours),
      new client.Counter({
        name: "x_total",
        help: "a counter",
        labelNames: [...LABELS, "status"],
        registers: [theirs],
      }),
    ] as const,
    histograms: [
      new KeyedHistogram("x_seconds", "a histogram", LABELS, ours, BUCKETS),
      new client.Histogram({
        name: "x_seconds",
        help: "a histogram",
        labelNames: LABELS,
        buckets: BUCKETS,
        registers: [theirs],
      }),
    ] as const,
  };
}

describe("keyed metric families", () => {
  it("expose the same text as prom-client for the same updates, bucket edges included", async () => {
    const p = pair();
    const a = { system: "s", agent: "a", version: "1", arm: "none", route: "champion" };
    const b = { system: "s", agent: 'we"ird\\name', version: "2", arm: "B", route: "experiment" };
    // Values on the bucket edges (le is inclusive), between them, above the last, and zero.
    const values = [0, 0.005, 0.0051, 0.01, 0.3, 1, 119.9, 120, 121, 1e6];
    for (const [labels, vs] of [
      [a, values],
      [b, values.slice(3)],
    ] as const) {
      for (const v of vs) {
        p.histograms[0].series(labels).observe(v);
        p.histograms[1].observe(labels, v);
      }
      for (const status of ["200", "502", "200"]) {
        p.counters[0].inc({ ...labels, status }, 2.5);
        p.counters[1].inc({ ...labels, status }, 2.5);
      }
    }
    const ours = await p.ours.metrics();
    expect(ours).toBe(await p.theirs.metrics());
    expect(ours).toContain(
      'x_seconds_bucket{le="0.005",system="s",agent="a",version="1",arm="none",route="champion"} 2',
    );
    expect(ours).toContain(
      'x_total{system="s",agent="a",version="1",arm="none",route="champion",status="200"} 5',
    );
  });

  it("ignore non-finite and negative amounts instead of throwing (a metric never fails a call)", async () => {
    const p = pair();
    const l = { system: "s", agent: "a", version: "1", arm: "none", route: "champion" };
    const h = p.histograms[0].series(l);
    h.observe(Number.NaN);
    h.observe(Number.POSITIVE_INFINITY);
    h.observe(0.2);
    const c = p.counters[0].series({ ...l, status: "200" });
    c.inc(-1);
    c.inc(Number.POSITIVE_INFINITY);
    c.inc();
    expect(h.count).toBe(1);
    expect(h.sum).toBe(0.2);
    expect(c.value).toBe(1);
  });

  it("reset zeroes the series the callers still hold", async () => {
    const p = pair();
    const l = { system: "s", agent: "a", version: "1", arm: "none", route: "champion" };
    const c = p.counters[0].series({ ...l, status: "200" });
    c.inc(3);
    await p.ours.resetMetrics();
    c.inc();
    expect((await p.counters[0].get()).values).toEqual([{ labels: { ...l, status: "200" }, value: 1 }]);
  });

  it("callSeries returns one cached bundle per label set and creates series only when used", async () => {
    const m = createMetrics();
    const labels = { system: "s", agent: "a", version: "3", arm: "none", route: "pinned" };
    const s = m.callSeries(labels);
    expect(m.callSeries({ ...labels })).toBe(s);
    expect(m.callSeries({ ...labels, version: "4" })).not.toBe(s);
    s.requests(200).inc();
    s.requests(200).inc();
    s.duration.observe(0.02);
    s.tokens("prompt").inc(7);
    const text = await m.registry.metrics();
    expect(text).toContain(
      'agentgate_requests_total{system="s",agent="a",version="3",arm="none",route="pinned",status="200"} 2',
    );
    expect(text).toContain(
      'agentgate_tokens_total{system="s",agent="a",version="3",arm="none",route="pinned",type="prompt"} 7',
    );
    // Never observed: no series, as prom-client would have it.
    expect(text).not.toContain('type="cached"');
    expect(text).not.toMatch(/agentgate_time_to_first_token_seconds_count\{/);
    // The overhead histogram is labelled by system and agent only.
    m.callSeries({ ...labels, version: "4" }).overhead.observe(0.001);
    s.overhead.observe(0.001);
    expect(text).not.toContain("agentgate_gateway_overhead_seconds_count{");
    expect(await m.registry.metrics()).toContain(
      'agentgate_gateway_overhead_seconds_count{system="s",agent="a"} 2',
    );
  });

  it("the catalog still types every family", () => {
    const types = new Map(
      createMetrics()
        .catalog()
        .map((d) => [d.name, d.type]),
    );
    expect(types.get("agentgate_requests_total")).toBe("counter");
    expect(types.get("agentgate_request_duration_seconds")).toBe("histogram");
    expect(types.get("agentgate_feedback_value")).toBe("summary");
    expect(types.get("agentgate_events_queue_depth")).toBe("gauge");
  });
});
