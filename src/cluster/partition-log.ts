/**
 * One partition of the NATS log seen as an `EventLog`, so the ordinary engine
 * consumes it unchanged: `read` reads that partition only, `head()` is the
 * partition's last sequence, refreshed by polling JetStream (appends come
 * from other processes) and at once after this process's own appends.
 */
import type { LogRecord, PortraitEvent, Positioned } from '../core/event.ts';
import type { AppendOutcome, EventLog } from '../log/index.ts';
import type { NatsEventLog } from '../log/nats/nats-event-log.ts';

export class PartitionLog implements EventLog {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly log: NatsEventLog,
    readonly partition: number,
    /** How often the partition's head is polled (ms). */
    pollMs: number,
  ) {
    this.timer = setInterval(() => void this.refresh(), pollMs);
    this.timer.unref();
    this.unsubscribe = log.onAppend(() => void this.refresh());
  }

  /** Reads the partition's head from JetStream and wakes the engine when it grew. */
  async refresh(): Promise<number> {
    if (this.polling) return this.last;
    this.polling = true;
    try {
      const h = await this.log.partitionHead(this.partition);
      if (h > this.last) {
        this.last = h;
        for (const l of this.listeners) l();
      }
    } catch {
      // Closed or unreachable: the next poll tries again; the engine keeps what it has.
    } finally {
      this.polling = false;
    }
    return this.last;
  }

  append(records: readonly LogRecord[]): Promise<AppendOutcome[]> {
    return this.log.append(records);
  }

  read(after: number, limit: number): Promise<Positioned[]> {
    return this.log.readPartition(this.partition, after, limit);
  }

  head(): number {
    return this.last;
  }

  eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts?: { upTo?: number }): Promise<Positioned<PortraitEvent>[]> {
    return this.log.eventsFor(workspace, ids, opts);
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  expireDedup(before: number): Promise<number> {
    return this.log.expireDedup(before);
  }

  /** Stops polling; the shared NATS log stays open. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe();
  }
}
