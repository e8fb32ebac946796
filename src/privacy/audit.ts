/**
 * The audit trail: reads of personal data and every admin and privacy action,
 * recorded off the request path. `record` only queues; a timer (or a full
 * batch) writes the queue in one insert; `flush` and `close` write what is left.
 */
import type { AuditQuery, AuditRecord, AuditStore } from '../storage/audit.ts';

export interface AuditTrailOptions {
  /** Records written per insert, and the queue size that triggers one at once (default 200). */
  batch?: number;
  /** Longest a record waits in the queue (ms, default 1000). */
  intervalMs?: number;
  /** Called when a write fails (the records are kept for the next attempt, up to 10 batches). */
  onError?: (e: unknown) => void;
}

export interface AuditPage {
  items: Array<AuditRecord & { seq: number; time: string }>;
  /** The `before` of the next page, when there may be one. */
  next?: number;
}

export class AuditTrail {
  private queue: AuditRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly batch: number;
  private readonly intervalMs: number;

  constructor(
    private readonly store: AuditStore,
    private readonly o: AuditTrailOptions = {},
  ) {
    this.batch = o.batch ?? 200;
    this.intervalMs = o.intervalMs ?? 1000;
  }

  /** Queues one record; never waits for the database. */
  record(r: AuditRecord): void {
    this.queue.push(r);
    if (this.queue.length >= this.batch) void this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes every queued record; resolves when they are stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      while (this.queue.length > 0) {
        const rows = this.queue.slice(0, this.batch);
        try {
          await this.store.appendAudit(rows);
          this.queue.splice(0, rows.length);
        } catch (e) {
          this.o.onError?.(e);
          // Keep a bounded backlog for the next attempt.
          if (this.queue.length > this.batch * 10) this.queue.splice(0, this.queue.length - this.batch * 10);
          return;
        }
      }
    });
    return this.writing;
  }

  /** Records of a workspace, newest first (queued records are written first). */
  async list(q: AuditQuery): Promise<AuditPage> {
    await this.flush();
    const rows = await this.store.auditRecords(q);
    const items = rows.map((r) => ({ ...r, time: new Date(r.at).toISOString() }));
    const last = items[items.length - 1];
    return items.length >= q.limit && last !== undefined ? { items, next: last.seq } : { items };
  }
}
