/**
 * The follower: every `AGENTGATE_FINETUNE_POLL_MS` (default 30 s) it asks the trainers about the
 * jobs still running (and succeeded jobs not yet registered). Every replica runs one; a lease
 * (`claim`) keeps replicas from polling the same job at once, and registration is exactly-once
 * regardless (apply.ts). A trainer that is down or answers nonsense is logged and retried at the
 * next tick: nothing here throws out of a sweep.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { Periodic } from "../periodic.js";
import type { FineTuneService } from "./service.js";
import { claim, needsFollowing, release } from "./store.js";

export type FollowerOptions = { intervalMs: number };

export class FineTuneFollower {
  private readonly job: Periodic<number>;

  constructor(
    private readonly db: Knex,
    private readonly service: FineTuneService,
    private readonly log: Logger,
    private readonly opts: FollowerOptions,
  ) {
    this.job = new Periodic(() => this.sweepOnce(), {
      intervalMs: opts.intervalMs,
      onError: (err) => log.warn({ err: String(err) }, "fine-tune follower: sweep failed"),
    });
  }

  start(): void {
    this.job.start();
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  /** One pass over the jobs to follow; returns how many this replica polled. */
  sweep(): Promise<number> {
    return this.job.run();
  }

  private get stopped(): boolean {
    return this.job.stopped;
  }

  private async sweepOnce(): Promise<number> {
    if (this.stopped) return 0;
    let ids: number[];
    try {
      ids = await needsFollowing(this.db("fine_tunes")).orderBy("id").pluck("id");
    } catch (err) {
      this.log.warn({ err: String(err) }, "fine-tune follower: cannot list jobs");
      return 0;
    }
    // A lease long enough for one trainer round trip; a replica that dies frees the job after it.
    const leaseMs = Math.max(60_000, 2 * this.opts.intervalMs);
    let polled = 0;
    for (const id of ids) {
      if (this.stopped) break;
      try {
        if (!(await claim(this.db, id, leaseMs))) continue;
        try {
          const view = await this.service.refresh(id);
          polled++;
          if (view.poll_error)
            this.log.warn({ fineTune: id, reason: view.poll_error }, "fine-tune follower: trainer problem");
          else if (view.versions.length > 0 && view.status === "succeeded")
            this.log.info(
              { fineTune: id, versions: view.versions },
              "fine-tune succeeded; versions registered",
            );
        } finally {
          await release(this.db, id);
        }
      } catch (err) {
        this.log.warn({ err: String(err), fineTune: id }, "fine-tune follower: job check failed");
      }
    }
    return polled;
  }
}
