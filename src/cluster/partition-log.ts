/**
 * One partition of the NATS log seen as an `EventLog`, so the ordinary engine
 * consumes it unchanged: `read` reads that partition only, `head()` is the
 * partition's last sequence, which the owner (ClusterEngine) feeds from one
 * poll of all partitions (appends come from other processes), and which is
 * also refreshed at once after this process's own appends.
 */
import type { ControlRecord } from '../core/control.ts';
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

  /**
   * The partition's records; a `forward` control record reads as the event it
   * names (see Positioned.forwarded). The forwarded events are read together
   * (NatsEventLog.recordsAt: from memory when this process read them from
   * the partition that sent them, else one request each). One whose event
   * the log no longer holds (purged by retention since) reads as its control
   * record, which folds nothing, as on a rebuild.
   */
  async read(after: number, limit: number): Promise<Positioned[]> {
    const rows = await this.log.readPartition(this.partition, after, limit);
    const forwards: Array<{ i: number; control: ControlRecord; of: number }> = [];
    rows.forEach((row, i) => {
      const r = row.record;
      if (r.type === 'control' && r.body.kind === 'forward') forwards.push({ i, control: r, of: r.body.of });
    });
    if (forwards.length === 0) return rows;
    const originals = await this.log.recordsAt(forwards.map((f) => f.of));
    for (const { i, control, of } of forwards) {
      const original = originals.get(of);
      if (original === undefined || !isEvent(original)) continue;
      rows[i] = { position: rows[i]!.position, record: original, forwarded: { control, group: control.body.kind === 'forward' && control.body.group === true } };
    }
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
