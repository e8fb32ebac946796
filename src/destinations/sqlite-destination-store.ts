/**
 * The destination store on the embedded SQLite state database, on the
 * connection it is given (a Portrait on a state file runs it on a thread of
 * its own: threaded-destination-store.ts). Every step that moves a notification forward is one
 * immediate transaction, so a crash leaves each notification either not yet
 * turned into a delivery or turned into exactly one. The statements run
 * synchronously; the methods answer promises to fit DestinationStore.
 */
import type Database from 'better-sqlite3';
import type { Destination } from './destination.ts';
import {
  jsonOrNull,
  membershipQuestions,
  planDeliveries,
  toDeadLetter,
  toDelivery,
  toDestination,
  toDue,
  HEALTH_SQL,
  toHealth,
  toOutbox,
  type DeadLetter,
  type Delivery,
  type DeliveryStatus,
  type DestinationHealth,
  type DestinationStore,
  type DueDelivery,
  type MemberRow,
  type OutboxRow,
} from './destination-store.ts';
import { DESTINATION_SCHEMA } from './schema.ts';

type Row = Record<string, unknown>;

export class SqliteDestinationStore implements DestinationStore {
  /** Statements by their text, compiled once: the delivery loop asks the same few questions after every engine commit. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    db.exec(DESTINATION_SCHEMA);
    // Added with consent purposes and tag filters: older files lack the columns.
    const columns = db.prepare('PRAGMA table_info(destinations)').all() as Array<{ name: string }>;
    for (const added of ['purpose', 'tags']) if (!columns.some((c) => c.name === added)) db.exec(`ALTER TABLE destinations ADD COLUMN ${added} TEXT`);
  }

  private sql(text: string): Database.Statement {
    let s = this.statements.get(text);
    if (s === undefined) this.statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  // Definitions

  async destination(id: string): Promise<Destination | undefined> {
    const r = this.sql('SELECT * FROM destinations WHERE id = ?').get(id) as Row | undefined;
    return r ? toDestination(r) : undefined;
  }

  async destinations(workspace?: string): Promise<Destination[]> {
    const rows = (workspace === undefined
      ? this.sql('SELECT * FROM destinations ORDER BY workspace, id').all()
      : this.sql('SELECT * FROM destinations WHERE workspace = ? ORDER BY id').all(workspace)) as Row[];
    return rows.map(toDestination);
  }

  async insert(d: Destination): Promise<boolean> {
    return this.db.transaction(() => {
      const added = this.sql('INSERT OR IGNORE INTO destinations (id, workspace, url, secret, kinds, segments, enabled, source, created_at, updated_at, purpose, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(d.id, d.workspace, d.url, d.secret, JSON.stringify(d.kinds), jsonOrNull(d.segments), d.enabled ? 1 : 0, d.source, d.createdAt, d.updatedAt, d.purpose ?? null, jsonOrNull(d.tags)).changes;
      if (added === 0) return false;
      this.sql('INSERT OR REPLACE INTO destination_cursors (destination, seq) VALUES (?, (SELECT COALESCE(MAX(seq), 0) FROM outbox))').run(d.id);
      return true;
    }).immediate();
  }

  async update(d: Destination): Promise<void> {
    this.sql('UPDATE destinations SET url = ?, secret = ?, kinds = ?, segments = ?, enabled = ?, updated_at = ?, purpose = ?, tags = ? WHERE id = ?')
      .run(d.url, d.secret, JSON.stringify(d.kinds), jsonOrNull(d.segments), d.enabled ? 1 : 0, d.updatedAt, d.purpose ?? null, jsonOrNull(d.tags), d.id);
  }

  async remove(id: string): Promise<void> {
    this.db.transaction(() => {
      for (const t of ['destinations WHERE id', 'destination_cursors WHERE destination', 'deliveries WHERE destination', 'dead_letters WHERE destination']) {
        this.sql(`DELETE FROM ${t} = ?`).run(id);
      }
    }).immediate();
  }

  async cursor(id: string): Promise<number> {
    return this.cursorNow(id);
  }

  private cursorNow(id: string): number {
    return (this.sql('SELECT seq FROM destination_cursors WHERE destination = ?').get(id) as { seq: number } | undefined)?.seq ?? 0;
  }

  // Outbox → deliveries

  async dispatch(d: Destination, limit: number, now: number, beforeCommit?: () => void): Promise<{ scanned: number; created: number }> {
    // Look before taking the write lock: the engine may hold it for a long commit, and this
    // runs on the thread that answers requests.
    if (this.sql('SELECT 1 FROM outbox WHERE workspace = ? AND seq > ? LIMIT 1').get(d.workspace, this.cursorNow(d.id)) === undefined) return { scanned: 0, created: 0 };
    return this.db.transaction(() => {
      const cursor = this.cursorNow(d.id);
      const rows = (this.sql('SELECT * FROM outbox WHERE workspace = ? AND seq > ? ORDER BY seq LIMIT ?').all(d.workspace, cursor, limit) as Row[]).map(toOutbox);
      const member = this.sql('SELECT 1 FROM segment_members WHERE workspace = ? AND profile_id = ? AND segment IN (SELECT value FROM json_each(?)) LIMIT 1');
      const members = new Set(membershipQuestions(d, rows).filter((p) => member.get(d.workspace, p, JSON.stringify(d.segments)) !== undefined));
      const insert = this.sql(
        `INSERT OR IGNORE INTO deliveries (id, destination, workspace, outbox_seq, kind, profile_id, body, status, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
      );
      let created = 0;
      for (const p of planDeliveries(d, rows, (id) => members.has(id))) created += insert.run(p.id, d.id, d.workspace, p.outboxSeq, p.kind, p.profileId, p.body, now, now).changes;
      if (rows.length > 0) this.sql('INSERT OR REPLACE INTO destination_cursors (destination, seq) VALUES (?, ?)').run(d.id, rows[rows.length - 1]!.seq);
      beforeCommit?.();
      return { scanned: rows.length, created };
    }).immediate();
  }

  // Sending

  async claimDue(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
    // As in dispatch: take the write lock only when something is due.
    if (this.sql(`SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1`).get(now) === undefined) return [];
    return this.db.transaction(() => {
      const rows = this.sql(
          `SELECT d.*, t.url, t.secret FROM deliveries d JOIN destinations t ON t.id = d.destination
           WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND t.enabled = 1 ORDER BY d.next_attempt_at, d.seq LIMIT ?`,
        )
        .all(now, limit) as Row[];
      const lease = this.sql('UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?');
      for (const r of rows) lease.run(now + leaseMs, r.seq);
      return rows.map((r) => toDue({ ...r, next_attempt_at: now + leaseMs }));
    }).immediate();
  }

  async delivered(dl: DueDelivery, responseCode: number, now: number): Promise<void> {
    this.sql(
        `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, response_code = ?, last_error = NULL, next_attempt_at = NULL, delivered_at = ?
         WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`,
      )
      .run(responseCode, now, dl.id, dl.leaseUntil);
  }

  async failed(dl: DueDelivery, responseCode: number | null, error: string, now: number, retryAt: number | null): Promise<void> {
    this.db.transaction(() => {
      if (retryAt !== null) {
        this.sql(`UPDATE deliveries SET attempts = attempts + 1, response_code = ?, last_error = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`)
          .run(responseCode, error, retryAt, dl.id, dl.leaseUntil);
        return;
      }
      const changed = this.sql(`UPDATE deliveries SET status = 'dead', attempts = attempts + 1, response_code = ?, last_error = ?, next_attempt_at = NULL WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`)
        .run(responseCode, error, dl.id, dl.leaseUntil).changes;
      if (changed > 0) {
        this.sql(
            `INSERT INTO dead_letters (delivery_id, destination, workspace, failed_at, attempts, last_error, response_code)
             SELECT id, destination, workspace, ?, attempts, last_error, response_code FROM deliveries WHERE id = ?`,
          )
          .run(now, dl.id);
      }
    }).immediate();
  }

  async nextDueAt(): Promise<number | undefined> {
    const r = this.sql(`SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN destinations t ON t.id = d.destination WHERE d.status = 'pending' AND t.enabled = 1`)
      .get() as { t: number | null };
    return r.t ?? undefined;
  }

  async health(): Promise<DestinationHealth[]> {
    return (this.sql(HEALTH_SQL).all() as Row[]).map(toHealth);
  }

  // Logs and replay

  async deliveries(destination: string, o: { status?: DeliveryStatus; after?: number; limit: number }): Promise<Delivery[]> {
    const rows = (o.status === undefined
      ? this.sql('SELECT * FROM deliveries WHERE destination = ? AND seq > ? ORDER BY seq LIMIT ?').all(destination, o.after ?? 0, o.limit)
      : this.sql('SELECT * FROM deliveries WHERE destination = ? AND status = ? AND seq > ? ORDER BY seq LIMIT ?').all(destination, o.status, o.after ?? 0, o.limit)) as Row[];
    return rows.map(toDelivery);
  }

  async deadLetters(destination: string, o: { replayed?: boolean; after?: number; limit: number }): Promise<DeadLetter[]> {
    const rows = this.sql(`SELECT * FROM dead_letters WHERE destination = ? AND (replayed_at IS NOT NULL) = ? AND seq > ? ORDER BY seq LIMIT ?`)
      .all(destination, o.replayed ? 1 : 0, o.after ?? 0, o.limit) as Row[];
    return rows.map(toDeadLetter);
  }

  async replay(destination: string, deliveryId: string | undefined, now: number): Promise<string[]> {
    return this.db.transaction(() => {
      const open = this.sql(`SELECT seq, delivery_id FROM dead_letters WHERE destination = ? AND replayed_at IS NULL AND (? IS NULL OR delivery_id = ?) ORDER BY seq`)
        .all(destination, deliveryId ?? null, deliveryId ?? null) as Array<{ seq: number; delivery_id: string }>;
      const requeue = this.sql(`UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND status = 'dead'`);
      const mark = this.sql('UPDATE dead_letters SET replayed_at = ? WHERE seq = ?');
      for (const r of open) {
        requeue.run(now, r.delivery_id);
        mark.run(now, r.seq);
      }
      return open.map((r) => r.delivery_id);
    }).immediate();
  }

  // Writes the engine does in its own commit; here for tests and tools.

  async appendOutbox(rows: ReadonlyArray<Omit<OutboxRow, 'seq'>>): Promise<number[]> {
    const insert = this.sql('INSERT INTO outbox (workspace, kind, profile_id, payload, position, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    return this.db.transaction(() => rows.map((r) => Number(insert.run(r.workspace, r.kind, r.profileId, r.payload, r.position, r.createdAt).lastInsertRowid)))();
  }

  async addMembers(rows: ReadonlyArray<{ workspace: string; segment: string; profileId: string; since: number }>): Promise<void> {
    const insert = this.sql('INSERT OR REPLACE INTO segment_members (workspace, segment, profile_id, since) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rows) insert.run(r.workspace, r.segment, r.profileId, r.since);
    })();
  }

  // Export

  async membersPage(workspace: string, segment: string, after: string, limit: number): Promise<MemberRow[]> {
    const rows = this.sql(
        `SELECT m.profile_id, m.since, p.doc FROM segment_members m LEFT JOIN profiles p ON p.workspace = m.workspace AND p.id = m.profile_id
         WHERE m.workspace = ? AND m.segment = ? AND m.profile_id > ? ORDER BY m.profile_id LIMIT ?`,
      )
      .all(workspace, segment, after, limit) as Row[];
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number, doc: (r.doc as string | null) ?? null }));
  }
}
