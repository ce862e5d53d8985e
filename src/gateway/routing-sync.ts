/**
 * Keeps the current routing table fresh: rebuilds it on every config-changed notification and on
 * a slow poll (the safety net for a lost notification), and swaps it in atomically. Reloads are
 * coalesced: a burst of notifications costs at most one running rebuild plus one queued.
 * When the database is unreachable the last good table keeps serving.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import { buildRoutingTable, EMPTY_TABLE, type RoutingTable } from "./routing-table.js";

export class RoutingSync {
  private table: RoutingTable = EMPTY_TABLE;
  private loadedOnce = false;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private poll: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(t: RoutingTable) => void>();

  constructor(
    private readonly db: Knex,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly pollMs: number,
  ) {
    metrics.trackRoutingTable(() => this.table.builtAt);
  }

  get current(): RoutingTable {
    return this.table;
  }

  get ready(): boolean {
    return this.loadedOnce;
  }

  /** Called after each successful swap (tests and the experiment guardrails use it). */
  onSwap(fn: (t: RoutingTable) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async start(): Promise<void> {
    await this.reload();
    this.poll = setInterval(() => void this.reload(), this.pollMs);
    this.poll.unref();
  }

  stop(): void {
    if (this.poll) clearInterval(this.poll);
  }

  /** Rebuilds now (or right after the rebuild in progress) and resolves when that is done. */
  reload(): Promise<void> {
    if (!this.running) {
      this.running = this.rebuild().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.reload();
    });
    return this.next;
  }

  private async rebuild(): Promise<void> {
    try {
      const table = await buildRoutingTable(this.db);
      this.table = table;
      this.loadedOnce = true;
      this.metrics.routingReloadsTotal.inc({ result: "ok" });
      this.metrics.routingAgents.set(table.agents.size);
      for (const fn of this.listeners) fn(table);
    } catch (err) {
      this.metrics.routingReloadsTotal.inc({ result: "error" });
      this.log.warn({ err }, "routing table reload failed; still serving the last good table");
    }
  }
}
