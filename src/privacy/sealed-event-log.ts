/**
 * An EventLog that seals personal fields on the way in and opens them on the
 * way out, around any log (SQLite, threaded SQLite, NATS JetStream): what it
 * stores holds no plaintext personal field, and once a person's data key is
 * destroyed their events read back without those fields
 * (`context.shredded: true`). See event-sealing.ts for which fields.
 */
import { isEvent, type LogRecord, type PortraitEvent, type Positioned } from '../core/event.ts';
import { identKey } from '../core/identity.ts';
import type { AppendOutcome, EraseSelector, EventLog, PurgeFilter } from '../log/event-log.ts';
import type { DataKeys } from './data-keys.ts';
import { hasPersonalFields, hasSealedFields, openEvent, sealEvent, type EmailReferencer } from './event-sealing.ts';

/** The identifier that owns an event: its user id, else its anonymous id (the log's attribution rule). */
export function ownerOf(e: PortraitEvent): string {
  return e.userId !== undefined ? identKey('user', e.userId) : identKey('anon', e.anonymousId ?? '');
}

export class SealedEventLog implements EventLog {
  private readonly fields: ReadonlySet<string>;

  constructor(
    readonly inner: EventLog,
    readonly keys: DataKeys,
    piiFields: readonly string[],
    /** Appended to the sealed emails the identity graph links by, so a replay still links them once shredded. */
    private readonly reference?: EmailReferencer,
  ) {
    this.fields = new Set(piiFields);
  }

  async append(records: readonly LogRecord[]): Promise<AppendOutcome[]> {
    if (this.fields.size === 0) return this.inner.append(records);
    // Subjects of the batch, per workspace: one get-or-create per workspace.
    const wanted = new Map<string, Map<number, string>>();
    const subjectOf = this.subjects();
    records.forEach((r, i) => {
      if (!isEvent(r) || !hasPersonalFields(r, this.fields)) return;
      let m = wanted.get(r.workspace);
      if (m === undefined) wanted.set(r.workspace, (m = new Map()));
      m.set(i, subjectOf(r));
    });
    if (wanted.size === 0) return this.inner.append(records);
    const sealed = records.slice();
    for (const [workspace, subjects] of wanted) {
      const keys = await this.keys.forWrite(workspace, [...new Set(subjects.values())]);
      for (const [i, subject] of subjects) sealed[i] = sealEvent(records[i] as PortraitEvent, this.fields, keys.get(subject)!, this.reference);
    }
    return this.inner.append(sealed);
  }

  async read(after: number, limit: number): Promise<Positioned[]> {
    return this.open(await this.inner.read(after, limit));
  }

  async eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts?: { upTo?: number }): Promise<Positioned<PortraitEvent>[]> {
    return this.open(await this.inner.eventsFor(workspace, ids, opts));
  }

  /** Opens the sealed fields of records read from the inner log (in place in the array). */
  async open<T extends LogRecord>(rows: Positioned<T>[]): Promise<Positioned<T>[]> {
    const wanted = new Map<string, Map<number, string>>();
    const subjectOf = this.subjects();
    rows.forEach((row, i) => {
      const r = row.record;
      if (!isEvent(r) || !hasSealedFields(r)) return;
      let m = wanted.get(r.workspace);
      if (m === undefined) wanted.set(r.workspace, (m = new Map()));
      m.set(i, subjectOf(r));
    });
    for (const [workspace, subjects] of wanted) {
      const keys = await this.keys.forRead(workspace, [...new Set(subjects.values())]);
      for (const [i, subject] of subjects) {
        const row = rows[i]!;
        rows[i] = { ...row, record: openEvent(row.record as PortraitEvent, keys.get(subject)) as LogRecord as T };
      }
    }
    return rows;
  }

  /** Subjects of events, memoised for one batch: a person's events tend to come together. */
  private subjects(): (e: PortraitEvent) => string {
    const memo = new Map<string, string>();
    return (e) => {
      const owner = `${e.workspace}\0${ownerOf(e)}`;
      let s = memo.get(owner);
      if (s === undefined) memo.set(owner, (s = this.keys.subjectOf(e.workspace, ownerOf(e))));
      return s;
    };
  }

  head(): number {
    return this.inner.head();
  }

  onAppend(listener: () => void): () => void {
    return this.inner.onAppend(listener);
  }

  expireDedup(before: number): Promise<number> {
    return this.inner.expireDedup(before);
  }

  erase(workspace: string, sel: EraseSelector, upTo: number): Promise<{ deleted: number; redacted: number }> {
    return this.inner.erase(workspace, sel, upTo);
  }

  async groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]> {
    return this.open(await this.inner.groupEvents(workspace, groupId, opts));
  }

  purge(filter: PurgeFilter, opts?: { dryRun?: boolean }): Promise<Map<string, number>> {
    return this.inner.purge(filter, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
