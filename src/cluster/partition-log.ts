/**
 * One partition of the NATS log seen as an `EventLog`, so the ordinary engine
 * consumes it unchanged: `read` reads that partition only, `head()` is the
 * partition's last sequence, which the owner (ClusterEngine) feeds from one
 * poll of all partitions (appends come from other processes), and which is
 * also refreshed at once after this process's own appends.
 */
import { isEvent, type LogRecord, type PortraitEvent, type Positioned } from '../core/event.ts';
import type { AppendOutcome, EraseSelector, EventLog, PurgeFilter } from '../log/index.ts';
import type { NatsEventLog } from '../log/nats/nats-event-log.ts';

export class PartitionLog implements EventLog {
  private last = 0;
  private polling = false;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly log: NatsEventLog,
    readonly partition: number,
  ) {
    this.unsubscribe = log.onAppend(() => void this.refresh());
  }

  /** A newer head seen by a poll of all partitions: wakes the engine when it grew. */
  advance(head: number): void {
    if (head <= this.last) return;
    this.last = head;
    for (const l of this.listeners) l();
  }

  /** Reads the partition's head from JetStream and wakes the engine when it grew. */
  async refresh(): Promise<number> {
    if (this.polling) return this.last;
    this.polling = true;
    try {
      this.advance(await this.log.partitionHead(this.partition));
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

  /** The partition's records; a `forward` control record reads as the event it names (see Positioned.forwarded). */
  async read(after: number, limit: number): Promise<Positioned[]> {
    const rows = await this.log.readPartition(this.partition, after, limit);
    // The forwarded events, fetched together (one request each).
    await Promise.all(
      rows.map(async (row, i) => {
        const r = row.record;
        if (r.type !== 'control' || r.body.kind !== 'forward') return;
        const original = await this.log.recordAt(r.body.of);
        // Purged by retention since: the control record stays, and folds nothing.
        if (original === undefined || !isEvent(original)) return;
        rows[i] = { position: row.position, record: original, forwarded: { control: r, group: r.body.group === true } };
      }),
    );
    return rows;
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

  /** Erasure on JetStream deletes no message: it relies on crypto-shredding (see NatsEventLog.erase). */
  erase(workspace: string, sel: EraseSelector, upTo: number): Promise<{ deleted: number; redacted: number }> {
    return this.log.erase(workspace, sel, upTo);
  }

  groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]> {
    return this.log.groupEvents(workspace, groupId, opts);
  }

  purge(filter: PurgeFilter, opts?: { dryRun?: boolean }): Promise<Map<string, number>> {
    return this.log.purge(filter, opts);
  }

  /** Stops following appends; the shared NATS log stays open. */
  async close(): Promise<void> {
    this.unsubscribe();
  }
}
