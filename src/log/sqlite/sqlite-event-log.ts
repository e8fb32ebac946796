/**
 * The embedded event log: one SQLite file in WAL mode with synchronous=FULL,
 * so a commit is on disk before an append resolves. Appends arriving in the
 * same tick share one transaction (group commit).
 */
import Database from 'better-sqlite3';
import { asGroupEvent, groupIdsOf, isEvent, type LogRecord, type PortraitEvent, type Positioned } from '../../core/event.ts';
import { Errors } from '../../core/errors.ts';
import { LogIndex } from './log-index.ts';
import { SQLITE_KEPT_BY_RETENTION, type AppendOutcome, type EraseSelector, type EventLog, type PurgeFilter } from '../event-log.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log (
  position     INTEGER PRIMARY KEY,
  workspace    TEXT NOT NULL,
  message_id   TEXT NOT NULL,
  type         TEXT NOT NULL,
  user_id      TEXT,
  anonymous_id TEXT,
  event_time   INTEGER NOT NULL,
  body         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup (
  workspace   TEXT NOT NULL,
  message_id  TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (workspace, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

/** Largest number of records written in one transaction. */
const MAX_TX_RECORDS = 20_000;

interface Pending {
  records: readonly LogRecord[];
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (e: unknown) => void;
}

export interface SqliteEventLogOptions {
  /** Path of the database file, or ':memory:'. */
  file: string;
  /** 'full' (default) fsyncs every commit; 'normal' survives a process crash but not power loss. */
  durability?: 'full' | 'normal';
}

export class SqliteEventLog implements EventLog {
  private readonly db: Database.Database;
  private readonly insertDedup: Database.Statement;
  private readonly insertLog: Database.Statement;
  private readonly saveHead: Database.Statement;
  private readonly readStmt: Database.Statement;
  /** By person and by group, trailing the appends (log-index.ts). */
  private readonly index: LogIndex;
  private readonly writeTx: (batch: Pending[]) => AppendOutcome[][];
  private lastPosition: number;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private indexScheduled = false;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(opts: SqliteEventLogOptions) {
    this.db = new Database(opts.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    // Erased events must not linger in free pages: deleted content is overwritten with zeros.
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
    this.index = new LogIndex(this.db);
    const meta = this.db.prepare(`SELECT value FROM log_meta WHERE key = 'last_position'`).get() as { value: number } | undefined;
    const max = this.db.prepare('SELECT MAX(position) AS p FROM log').get() as { p: number | null };
    // The high-water mark survives deletions (retention, erasure): positions are never reused.
    this.lastPosition = Math.max(meta?.value ?? 0, max.p ?? 0);
    this.insertDedup = this.db.prepare('INSERT OR IGNORE INTO dedup (workspace, message_id, received_at) VALUES (?, ?, ?)');
    this.insertLog = this.db.prepare(
      'INSERT INTO log (position, workspace, message_id, type, user_id, anonymous_id, event_time, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.saveHead = this.db.prepare(`INSERT INTO log_meta (key, value) VALUES ('last_position', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`);
    this.readStmt = this.db.prepare('SELECT position, body FROM log WHERE position > ? ORDER BY position LIMIT ?');
    this.writeTx = this.db.transaction((batch: Pending[]) => {
      let position = this.lastPosition;
      const all: AppendOutcome[][] = [];
      for (const p of batch) {
        const outcomes: AppendOutcome[] = new Array(p.records.length);
        for (let i = 0; i < p.records.length; i++) {
          const r = p.records[i]!;
          if (this.insertDedup.run(r.workspace, r.messageId, r.receivedAt).changes === 0) {
            outcomes[i] = 'duplicate';
            continue;
          }
          position++;
          const userId = isEvent(r) ? (r.userId ?? null) : null;
          const anonymousId = isEvent(r) ? (r.anonymousId ?? null) : null;
          this.insertLog.run(position, r.workspace, r.messageId, r.type, userId, anonymousId, r.timestamp, JSON.stringify(r));
          outcomes[i] = 'appended';
        }
        all.push(outcomes);
      }
      this.saveHead.run(position);
      this.lastPosition = position;
      return all;
    });
  }

  append(records: readonly LogRecord[]): Promise<AppendOutcome[]> {
    if (this.closed) return Promise.reject(Errors.closed());
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let n = 0;
      while (this.queue.length > 0 && (n === 0 || n + this.queue[0]!.records.length <= MAX_TX_RECORDS)) {
        const p = this.queue.shift()!;
        batch.push(p);
        n += p.records.length;
      }
      const before = this.lastPosition;
      try {
        const outcomes = this.writeTx(batch);
        batch.forEach((p, i) => p.resolve(outcomes[i]!));
      } catch (e) {
        this.lastPosition = before;
        const err = Errors.storage('appending to the event log');
        err.cause = e;
        for (const p of batch) p.reject(err);
      }
    }
    for (const l of this.listeners) l();
    this.scheduleIndex();
  }

  /**
   * Lets the index follow the appends, in a later turn of the event loop: the
   * appends just written are acknowledged (and their listeners told) before
   * a batch of the index is written.
   */
  private scheduleIndex(): void {
    if (this.indexScheduled) return;
    this.indexScheduled = true;
    setImmediate(() => {
      this.indexScheduled = false;
      if (!this.closed) this.index.appended(this.lastPosition, performance.now());
    });
  }

  /** Indexes every record appended so far, for tests (the index otherwise trails the appends by up to a batch). */
  indexNow(): void {
    this.index.catchUp(this.lastPosition);
  }

  async read(after: number, limit: number): Promise<Positioned[]> {
    return this.readSync(after, limit);
  }

  /** Synchronous read, for the embedded engine's replay paths. */
  readSync(after: number, limit: number): Positioned[] {
    const rows = this.readStmt.all(after, limit) as { position: number; body: string }[];
    const out: Positioned[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      out[i] = { position: row.position, record: JSON.parse(row.body) as LogRecord };
    }
    return out;
  }

  head(): number {
    return this.lastPosition;
  }

  async eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts: { upTo?: number } = {}): Promise<Positioned<PortraitEvent>[]> {
    const { userIds, anonymousIds } = ids;
    if (userIds.length === 0 && anonymousIds.length === 0) return [];
    const rows = this.index.people(workspace, userIds, anonymousIds, opts.upTo ?? this.lastPosition);
    return rows.map((r) => ({ position: r.position, record: JSON.parse(r.body) as PortraitEvent }));
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async erase(workspace: string, sel: EraseSelector, upTo: number): Promise<{ deleted: number; redacted: number }> {
    if (this.closed) throw Errors.closed();
    const users = JSON.stringify(sel.userIds);
    const anons = JSON.stringify(sel.anonymousIds);
    const both = JSON.stringify([...sel.userIds, ...sel.anonymousIds]);
    // The same attribution as eventsFor, so a rebuild after the erasure folds exactly the events left.
    const remove = this.db.prepare(
      `DELETE FROM log WHERE workspace = ? AND position <= ? AND (
         (type NOT IN ('unlink', 'erase') AND (user_id IN (SELECT value FROM json_each(?))
            OR (user_id IS NULL AND anonymous_id IN (SELECT value FROM json_each(?)))))
         OR (type = 'unlink' AND (json_extract(body, '$.a') IN (SELECT value FROM json_each(?)) OR json_extract(body, '$.b') IN (SELECT value FROM json_each(?)))))`,
    );
    // What is left naming the person belongs to someone else, and the identity guards refused
    // those links (else that someone would be part of the erased profile): dropping the
    // person's id from them changes nothing a rebuild computes, and keeps no trace of it.
    const otherUsersAnon = this.db.prepare(
      `UPDATE log SET body = json_remove(body, '$.anonymousId'), anonymous_id = NULL
       WHERE workspace = ? AND position <= ? AND user_id IS NOT NULL AND anonymous_id IN (SELECT value FROM json_each(?))`,
    );
    const aliasPrevious = this.db.prepare(
      `UPDATE log SET body = json_remove(body, '$.previousId')
       WHERE workspace = ? AND position <= ? AND type = 'alias' AND json_extract(body, '$.previousId') IN (SELECT value FROM json_each(?))`,
    );
    return this.db.transaction(() => {
      // The index entries of the person's records first (unlinks have none).
      this.index.forgetPeople(workspace, sel.userIds, sel.anonymousIds, upTo);
      const deleted = remove.run(workspace, upTo, users, anons, JSON.stringify(sel.identKeys), JSON.stringify(sel.identKeys)).changes;
      const redacted = otherUsersAnon.run(workspace, upTo, anons).changes + aliasPrevious.run(workspace, upTo, both).changes;
      return { deleted, redacted };
    }).immediate();
  }

  async groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]> {
    const rows = this.index.group(workspace, groupId, opts.upTo);
    const out: Positioned<PortraitEvent>[] = [];
    for (const r of rows) {
      const record = asGroupEvent(JSON.parse(r.body) as LogRecord);
      if (record !== undefined && groupIdsOf(record).includes(groupId)) out.push({ position: r.position, record });
    }
    return out;
  }

  /** Checkpoints the WAL into the file, truncates it, and rewrites the file without free pages. */
  compact(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async expireDedup(before: number): Promise<number> {
    return this.expireDedupSync(before);
  }

  expireDedupSync(before: number): number {
    return this.db.prepare('DELETE FROM dedup WHERE received_at < ?').run(before).changes;
  }

  async purge(filter: PurgeFilter, opts: { dryRun?: boolean } = {}): Promise<Map<string, number>> {
    if (this.closed) throw Errors.closed();
    return this.purgeSync(filter, opts);
  }

  /**
   * Retention: deletes (or with dryRun counts) the events matching the filter,
   * in one transaction; freed cells are zeroed (secure_delete) so the raw
   * events do not linger in the file's free pages.
   */
  purgeSync(filter: PurgeFilter, opts: { dryRun?: boolean } = {}): Map<string, number> {
    const where = `event_time < ? AND position <= ? AND NOT ${SQLITE_KEPT_BY_RETENTION} AND (? IS NULL OR workspace = ?) AND (? IS NULL OR type = ?) AND (? IS NULL OR json_extract(body, '$.event') = ?)`;
    const w = filter.workspace ?? null;
    const t = filter.type ?? null;
    const e = filter.event ?? null;
    const params = [filter.before, filter.upTo ?? Number.MAX_SAFE_INTEGER, w, w, t, t, e, e];
    const count = () => {
      const rows = this.db.prepare(`SELECT workspace, COUNT(*) AS n FROM log WHERE ${where} GROUP BY workspace`).all(...params) as Array<{ workspace: string; n: number }>;
      return new Map(rows.map((r) => [r.workspace, r.n]));
    };
    if (opts.dryRun) return count();
    this.db.pragma('secure_delete = ON');
    try {
      return this.db.transaction(() => {
        const counts = count();
        this.index.forget(where, params);
        this.db.prepare(`DELETE FROM log WHERE ${where}`).run(...params);
        // Keep the high-water mark: positions are never reused after a deletion.
        this.saveHead.run(this.lastPosition);
        return counts;
      })();
    } finally {
      this.db.pragma('secure_delete = OFF');
    }
  }

  /** Number of stored records (for tests and diagnostics). */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM log').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued appends finish before closing.
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    this.db.close();
  }
}
