/** The background-job helper behind the guardian, the capture cleaner, the follower, MLflow sync. */
import { describe, expect, it } from "vitest";
import { Periodic } from "../src/periodic.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Periodic", () => {
  it("runs one pass at a time: callers during a pass join it", async () => {
    let runs = 0;
    let release: () => void = () => {};
    const job = new Periodic(
      () =>
        new Promise<number>((resolve) => {
          runs++;
          release = () => resolve(runs);
        }),
      { intervalMs: 0, onError: () => {} },
    );
    const a = job.run();
    const b = job.run();
    expect(a).toBe(b);
    release();
    expect(await a).toBe(1);
    const c = job.run();
    release();
    expect(await c).toBe(2);
  });

  it("ticks on its interval, hands failures to onError and keeps going; stop waits for the pass", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    let finished = 0;
    const job = new Periodic(
      async () => {
        runs++;
        await tick(30);
        finished++;
        if (runs === 1) throw new Error("first pass fails");
      },
      { intervalMs: 10, onError: (err) => errors.push(err) },
    );
    job.start();
    for (let i = 0; i < 100 && runs < 2; i++) await tick(10);
    await job.stop();
    expect(job.stopped).toBe(true);
    expect(errors).toHaveLength(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(finished).toBe(runs);
    const after = runs;
    await tick(40);
    expect(runs).toBe(after);
  });

  it("never starts a timer with interval 0", async () => {
    let runs = 0;
    const job = new Periodic(async () => void runs++, { intervalMs: 0, onError: () => {} });
    job.start();
    await tick(30);
    expect(runs).toBe(0);
    await job.stop();
  });
});
