/**
 * A background job run every `intervalMs` on every replica (0 = never on its own; tests and
 * callers can still `run` it). One run at a time: a caller that finds a run in progress joins it,
 * a tick skips. The timer is unref'd, so it never keeps the process alive, and `stop` waits for the
 * run in progress, so it ends before the database closes. A run that throws is handed to
 * `onError` and tried again at the next tick.
 *
 * The guardian, the capture cleaner, the fine-tune follower and the MLflow sync scheduler are all
 * one of these around their own task.
 */
export type PeriodicOptions = { intervalMs: number; onError: (err: unknown) => void };

export class Periodic<T> {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<T> | undefined;
  private halted = false;

  constructor(
    private readonly task: () => Promise<T>,
    private readonly opts: PeriodicOptions,
  ) {}

  /** True once `stop` was called: long tasks check it between items. */
  get stopped(): boolean {
    return this.halted;
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      // A tick that finds a pass in progress skips: the pass's own tick reports its failure, once.
      if (this.current) return;
      this.run().catch(this.opts.onError);
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  run(): Promise<T> {
    this.current ??= this.task().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  async stop(): Promise<void> {
    this.halted = true;
    if (this.timer) clearInterval(this.timer);
    await this.current?.catch(() => {});
  }
}
