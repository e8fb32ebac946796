/**
 * Persistence of destinations, cursors, deliveries and dead letters on the
 * state database (the main thread's connection). Every step that moves a
 * notification forward is one transaction, so a crash leaves each
 * notification either not yet turned into a delivery or turned into exactly one.
 */
import type Database from 'better-sqlite3';
import type { Destination, Kind } from './destination.ts';
import { DESTINATION_SCHEMA } from './schema.ts';

export interface OutboxRow {
  seq: number;
  workspace: string;
  kind: string;
  profileId: string;
  /** JSON text: `{segment?, time, reason?, ...}`. */
  payload: string;
  position: number;
  createdAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  seq: number;
  /** `<destination>:<outbox seq>`: stable across retries and restarts, sent as the idempotency id. */
  id: string;
  destination: string;
  workspace: string;
  outboxSeq: number;
  kind: Kind;
  profileId: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string | null;
  responseCode: number | null;
  createdAt: number;
  deliveredAt: number | null;
}

export interface DeadLetter {
  seq: number;
  deliveryId: string;
  destination: string;
  workspace: string;
  failedAt: number;
  attempts: number;
  lastError: string | null;
  responseCode: number | null;
  replayedAt: number | null;
}

/** A claimed delivery with what the sender needs of its destination. */
export interface DueDelivery extends Delivery {
  url: string;
  secret: string;
}

type Row = Record<string, unknown>;

export class SqliteDestinationStore {
  constructor(private readonly db: Database.Database) {
    db.exec(DESTINATION_SCHEMA);
    // Added with consent purposes: older files lack the column.
    const columns = db.prepare('PRAGMA table_info(destinations)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'purpose')) db.exec('ALTER TABLE destinations ADD COLUMN purpose TEXT');
  }

  // Definitions

  destination(id: string): Destination | undefined {
    const r = this.db.prepare('SELECT * FROM destinations WHERE id = ?').get(id) as Row | undefined;
    return r ? toDestination(r) : undefined;
  }

  destinations(workspace?: string): Destination[] {
    const rows = (workspace === undefined
      ? this.db.prepare('SELECT * FROM destinations ORDER BY workspace, id').all()
      : this.db.prepare('SELECT * FROM destinations WHERE workspace = ? ORDER BY id').all(workspace)) as Row[];
    return rows.map(toDestination);
  }

  /** Inserts a destination; it receives the notifications written after this moment. */
  insert(d: Destination): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO destinations (id, workspace, url, secret, kinds, segments, enabled, source, created_at, updated_at, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(d.id, d.workspace, d.url, d.secret, JSON.stringify(d.kinds), d.segments === null ? null : JSON.stringify(d.segments), d.enabled ? 1 : 0, d.source, d.createdAt, d.updatedAt, d.purpose ?? null);
      this.db.prepare('INSERT OR REPLACE INTO destination_cursors (destination, seq) VALUES (?, (SELECT COALESCE(MAX(seq), 0) FROM outbox))').run(d.id);
    }).immediate();
  }

  update(d: Destination): void {
    this.db
      .prepare('UPDATE destinations SET url = ?, secret = ?, kinds = ?, segments = ?, enabled = ?, updated_at = ?, purpose = ? WHERE id = ?')
      .run(d.url, d.secret, JSON.stringify(d.kinds), d.segments === null ? null : JSON.stringify(d.segments), d.enabled ? 1 : 0, d.updatedAt, d.purpose ?? null, d.id);
  }

  /** Removes a destination with its cursor, deliveries and dead letters. */
  remove(id: string): void {
    this.db.transaction(() => {
      for (const t of ['destinations WHERE id', 'destination_cursors WHERE destination', 'deliveries WHERE destination', 'dead_letters WHERE destination']) {
        this.db.prepare(`DELETE FROM ${t} = ?`).run(id);
      }
    }).immediate();
  }

  cursor(id: string): number {
    return (this.db.prepare('SELECT seq FROM destination_cursors WHERE destination = ?').get(id) as { seq: number } | undefined)?.seq ?? 0;
  }

  // Outbox → deliveries

  /**
   * Turns the next `limit` outbox rows of the destination's workspace into
   * deliveries (those matching its kinds and segments) and moves its cursor
   * past them, in one transaction. `beforeCommit` lets tests fail in between.
   */
  dispatch(d: Destination, limit: number, now: number, beforeCommit?: () => void): { scanned: number; created: number } {
    // Look before taking the write lock: the engine may hold it for a long commit, and this
    // runs on the thread that answers requests.
    if (this.db.prepare('SELECT 1 FROM outbox WHERE workspace = ? AND seq > ? LIMIT 1').get(d.workspace, this.cursor(d.id)) === undefined) return { scanned: 0, created: 0 };
    return this.db.transaction(() => {
      const cursor = this.cursor(d.id);
      const rows = this.db.prepare('SELECT * FROM outbox WHERE workspace = ? AND seq > ? ORDER BY seq LIMIT ?').all(d.workspace, cursor, limit) as Row[];
      const insert = this.db.prepare(
        `INSERT OR IGNORE INTO deliveries (id, destination, workspace, outbox_seq, kind, profile_id, body, status, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
      );
      const member = this.db.prepare('SELECT 1 FROM segment_members WHERE workspace = ? AND profile_id = ? AND segment IN (SELECT value FROM json_each(?)) LIMIT 1');
      const segments = d.segments === null ? null : new Set(d.segments);
      let created = 0;
      for (const r of rows) {
        const o = toOutbox(r);
        if (!(d.kinds as string[]).includes(o.kind)) continue;
        const { consented, ...payload } = parsePayload(o.payload);
        // A purpose-bound destination hears only about profiles that had granted its purpose when the notification was written.
        if (d.purpose !== undefined && !(Array.isArray(consented) && consented.includes(d.purpose))) continue;
        if (segments !== null) {
          if (o.kind === 'profile.updated') {
            if (member.get(d.workspace, o.profileId, JSON.stringify(d.segments)) === undefined) continue;
          } else if (typeof payload.segment !== 'string' || !segments.has(payload.segment)) continue;
        }
        const id = `${d.id}:${o.seq}`;
        const body = JSON.stringify({ id, type: o.kind, workspace: o.workspace, profileId: o.profileId, createdAt: new Date(o.createdAt).toISOString(), data: payload });
        created += insert.run(id, d.id, d.workspace, o.seq, o.kind, o.profileId, body, now, now).changes;
      }
      if (rows.length > 0) this.db.prepare('INSERT OR REPLACE INTO destination_cursors (destination, seq) VALUES (?, ?)').run(d.id, toOutbox(rows[rows.length - 1]!).seq);
      beforeCommit?.();
      return { scanned: rows.length, created };
    }).immediate();
  }

  // Sending

  /**
   * Claims up to `limit` pending deliveries due at `now` (of enabled
   * destinations) by pushing their next attempt `leaseMs` ahead: another
   * sender skips them, and a crash mid-send retries them after the lease.
   */
  claimDue(now: number, limit: number, leaseMs: number): DueDelivery[] {
    // As in dispatch: take the write lock only when something is due.
    if (this.db.prepare(`SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1`).get(now) === undefined) return [];
    return this.db.transaction(() => {
      const rows = this.db
        .prepare(
          `SELECT d.*, t.url, t.secret FROM deliveries d JOIN destinations t ON t.id = d.destination
           WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND t.enabled = 1 ORDER BY d.next_attempt_at, d.seq LIMIT ?`,
        )
        .all(now, limit) as Row[];
      const lease = this.db.prepare('UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?');
      for (const r of rows) lease.run(now + leaseMs, r.seq);
      return rows.map((r) => ({ ...toDelivery(r), url: r.url as string, secret: r.secret as string }));
    }).immediate();
  }

  delivered(id: string, responseCode: number, now: number): void {
    this.db
      .prepare(`UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, response_code = ?, last_error = NULL, next_attempt_at = NULL, delivered_at = ? WHERE id = ? AND status = 'pending'`)
      .run(responseCode, now, id);
  }

  /** Records a failed attempt: retried at `retryAt`, or, when null, moved to the dead letters. */
  failed(id: string, responseCode: number | null, error: string, now: number, retryAt: number | null): void {
    this.db.transaction(() => {
      if (retryAt !== null) {
        this.db
          .prepare(`UPDATE deliveries SET attempts = attempts + 1, response_code = ?, last_error = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'`)
          .run(responseCode, error, retryAt, id);
        return;
      }
      const changed = this.db
        .prepare(`UPDATE deliveries SET status = 'dead', attempts = attempts + 1, response_code = ?, last_error = ?, next_attempt_at = NULL WHERE id = ? AND status = 'pending'`)
        .run(responseCode, error, id).changes;
      if (changed > 0) {
        this.db
          .prepare(
            `INSERT INTO dead_letters (delivery_id, destination, workspace, failed_at, attempts, last_error, response_code)
             SELECT id, destination, workspace, ?, attempts, last_error, response_code FROM deliveries WHERE id = ?`,
          )
          .run(now, id);
      }
    }).immediate();
  }

  /** The earliest next attempt among pending deliveries of enabled destinations. */
  nextDueAt(): number | undefined {
    const r = this.db
      .prepare(`SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN destinations t ON t.id = d.destination WHERE d.status = 'pending' AND t.enabled = 1`)
      .get() as { t: number | null };
    return r.t ?? undefined;
  }

  // Logs and replay

  deliveries(destination: string, o: { status?: DeliveryStatus; after?: number; limit: number }): Delivery[] {
    const rows = (o.status === undefined
      ? this.db.prepare('SELECT * FROM deliveries WHERE destination = ? AND seq > ? ORDER BY seq LIMIT ?').all(destination, o.after ?? 0, o.limit)
      : this.db.prepare('SELECT * FROM deliveries WHERE destination = ? AND status = ? AND seq > ? ORDER BY seq LIMIT ?').all(destination, o.status, o.after ?? 0, o.limit)) as Row[];
    return rows.map(toDelivery);
  }

  delivery(id: string): Delivery | undefined {
    const r = this.db.prepare('SELECT * FROM deliveries WHERE id = ?').get(id) as Row | undefined;
    return r ? toDelivery(r) : undefined;
  }

  deadLetters(destination: string, o: { replayed?: boolean; after?: number; limit: number }): DeadLetter[] {
    const rows = this.db
      .prepare(`SELECT * FROM dead_letters WHERE destination = ? AND (replayed_at IS NOT NULL) = ? AND seq > ? ORDER BY seq LIMIT ?`)
      .all(destination, o.replayed ? 1 : 0, o.after ?? 0, o.limit) as Row[];
    return rows.map(toDeadLetter);
  }

  /**
   * Puts dead deliveries of a destination back in the queue with a fresh
   * attempt budget, due at `now`. With `deliveryId`, only that one. Returns the ids replayed.
   */
  replay(destination: string, deliveryId: string | undefined, now: number): string[] {
    return this.db.transaction(() => {
      const open = this.db
        .prepare(`SELECT seq, delivery_id FROM dead_letters WHERE destination = ? AND replayed_at IS NULL AND (? IS NULL OR delivery_id = ?) ORDER BY seq`)
        .all(destination, deliveryId ?? null, deliveryId ?? null) as Array<{ seq: number; delivery_id: string }>;
      const requeue = this.db.prepare(`UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND status = 'dead'`);
      const mark = this.db.prepare('UPDATE dead_letters SET replayed_at = ? WHERE seq = ?');
      for (const r of open) {
        requeue.run(now, r.delivery_id);
        mark.run(now, r.seq);
      }
      return open.map((r) => r.delivery_id);
    }).immediate();
  }

  // Writes the engine does in its own commit; here for tests and tools.

  /** Appends notifications to the outbox in one transaction; returns their seqs. */
  appendOutbox(rows: ReadonlyArray<Omit<OutboxRow, 'seq'>>): number[] {
    const insert = this.db.prepare('INSERT INTO outbox (workspace, kind, profile_id, payload, position, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    return this.db.transaction(() => rows.map((r) => Number(insert.run(r.workspace, r.kind, r.profileId, r.payload, r.position, r.createdAt).lastInsertRowid)))();
  }

  /** Adds segment members in one transaction. */
  addMembers(rows: ReadonlyArray<{ workspace: string; segment: string; profileId: string; since: number }>): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO segment_members (workspace, segment, profile_id, since) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rows) insert.run(r.workspace, r.segment, r.profileId, r.since);
    })();
  }

  // Export

  /** One page of a segment's members after `after` (profile id order), with their profile documents when present. */
  membersPage(workspace: string, segment: string, after: string, limit: number): Array<{ profileId: string; since: number; doc: string | null }> {
    const rows = this.db
      .prepare(
        `SELECT m.profile_id, m.since, p.doc FROM segment_members m LEFT JOIN profiles p ON p.workspace = m.workspace AND p.id = m.profile_id
         WHERE m.workspace = ? AND m.segment = ? AND m.profile_id > ? ORDER BY m.profile_id LIMIT ?`,
      )
      .all(workspace, segment, after, limit) as Row[];
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number, doc: (r.doc as string | null) ?? null }));
  }
}

function parsePayload(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    // The engine writes JSON; anything else is forwarded as text rather than dropped.
    return { raw: text };
  }
}

function toOutbox(r: Row): OutboxRow {
  return {
    seq: r.seq as number,
    workspace: r.workspace as string,
    kind: r.kind as string,
    profileId: r.profile_id as string,
    payload: r.payload as string,
    position: r.position as number,
    createdAt: r.created_at as number,
  };
}

function toDestination(r: Row): Destination {
  return {
    id: r.id as string,
    workspace: r.workspace as string,
    url: r.url as string,
    secret: r.secret as string,
    kinds: JSON.parse(r.kinds as string) as Kind[],
    segments: r.segments === null ? null : (JSON.parse(r.segments as string) as string[]),
    enabled: r.enabled === 1,
    ...(typeof r.purpose === 'string' ? { purpose: r.purpose } : {}),
    source: r.source as Destination['source'],
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

function toDelivery(r: Row): Delivery {
  return {
    seq: r.seq as number,
    id: r.id as string,
    destination: r.destination as string,
    workspace: r.workspace as string,
    outboxSeq: r.outbox_seq as number,
    kind: r.kind as Kind,
    profileId: r.profile_id as string,
    body: r.body as string,
    status: r.status as DeliveryStatus,
    attempts: r.attempts as number,
    nextAttemptAt: (r.next_attempt_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    responseCode: (r.response_code as number | null) ?? null,
    createdAt: r.created_at as number,
    deliveredAt: (r.delivered_at as number | null) ?? null,
  };
}

function toDeadLetter(r: Row): DeadLetter {
  return {
    seq: r.seq as number,
    deliveryId: r.delivery_id as string,
    destination: r.destination as string,
    workspace: r.workspace as string,
    failedAt: r.failed_at as number,
    attempts: r.attempts as number,
    lastError: (r.last_error as string | null) ?? null,
    responseCode: (r.response_code as number | null) ?? null,
    replayedAt: (r.replayed_at as number | null) ?? null,
  };
}
