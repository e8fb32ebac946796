/**
 * The destination store on PostgreSQL (tables: migrations 8 and 13 of
 * src/storage/postgres/postgres-schema.ts). Several processes may deliver
 * from one database at once: a destination's outbox cursor row is taken
 * with FOR UPDATE SKIP LOCKED, so one process at a time turns its rows into
 * deliveries, and due deliveries are claimed the same way with a lease, so
 * one process at a time sends each; a process that dies loses its claim
 * when the lease ends.
 */
import type pg from 'pg';
import { insertOutbox } from '../storage/postgres/postgres-segments.ts';
import { withTransaction } from '../storage/postgres/transaction.ts';
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

type Row = Record<string, unknown>;

export class PostgresDestinationStore implements DestinationStore {
  /** `pool` must read BIGINT as numbers, as PostgresStore's pool does. */
  constructor(private readonly pool: pg.Pool) {}

  private async rows(sql: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query<Row>(sql, values)).rows;
  }

  // Definitions

  async destination(id: string): Promise<Destination | undefined> {
    const [r] = await this.rows('SELECT * FROM destinations WHERE id = $1', [id]);
    return r ? toDestination(r) : undefined;
  }

  async destinations(workspace?: string): Promise<Destination[]> {
    const rows =
      workspace === undefined
        ? await this.rows('SELECT * FROM destinations ORDER BY workspace, id')
        : await this.rows('SELECT * FROM destinations WHERE workspace = $1 ORDER BY id', [workspace]);
    return rows.map(toDestination);
  }

  async insert(d: Destination): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      const r = await c.query(
        `INSERT INTO destinations (id, workspace, url, secret, kinds, segments, enabled, source, created_at, updated_at, purpose, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING`,
        [d.id, d.workspace, d.url, d.secret, JSON.stringify(d.kinds), jsonOrNull(d.segments), d.enabled, d.source, d.createdAt, d.updatedAt, d.purpose ?? null, jsonOrNull(d.tags)],
      );
      if (r.rowCount === 0) return false;
      await c.query(
        `INSERT INTO destination_cursors (destination, seq) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) FROM outbox))
         ON CONFLICT (destination) DO UPDATE SET seq = excluded.seq`,
        [d.id],
      );
      return true;
    });
  }

  async update(d: Destination): Promise<void> {
    await this.pool.query('UPDATE destinations SET url = $1, secret = $2, kinds = $3, segments = $4, enabled = $5, updated_at = $6, purpose = $7, tags = $8 WHERE id = $9', [
      d.url,
      d.secret,
      JSON.stringify(d.kinds),
      jsonOrNull(d.segments),
      d.enabled,
      d.updatedAt,
      d.purpose ?? null,
      jsonOrNull(d.tags),
      d.id,
    ]);
  }

  async remove(id: string): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      for (const t of ['destinations WHERE id', 'destination_cursors WHERE destination', 'deliveries WHERE destination', 'dead_letters WHERE destination']) {
        await c.query(`DELETE FROM ${t} = $1`, [id]);
      }
    });
  }

  async cursor(id: string): Promise<number> {
    const [r] = await this.rows('SELECT seq FROM destination_cursors WHERE destination = $1', [id]);
    return (r?.seq as number | undefined) ?? 0;
  }

  // Outbox → deliveries

  async dispatch(d: Destination, limit: number, now: number, beforeCommit?: () => void): Promise<{ scanned: number; created: number }> {
    // Look before opening a transaction: most passes find nothing new.
    const [news] = await this.rows('SELECT 1 FROM outbox WHERE workspace = $1 AND seq > (SELECT seq FROM destination_cursors WHERE destination = $2) LIMIT 1', [d.workspace, d.id]);
    if (news === undefined) return { scanned: 0, created: 0 };
    return withTransaction(this.pool, async (c) => {
      // Another process dispatching for this destination holds the row: leave the rows to it.
      const cur = await c.query<{ seq: number }>('SELECT seq FROM destination_cursors WHERE destination = $1 FOR UPDATE SKIP LOCKED', [d.id]);
      const cursor = cur.rows[0]?.seq;
      if (cursor === undefined) return { scanned: 0, created: 0 };
      // Outbox writers commit in seq order (see insertOutbox): no row below the cursor can still appear.
      const rows = (await c.query<Row>('SELECT * FROM outbox WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3', [d.workspace, cursor, limit])).rows.map(toOutbox);
      const asked = membershipQuestions(d, rows);
      const members = new Set(
        asked.length === 0
          ? []
          : (
              await c.query<{ profile_id: string }>('SELECT DISTINCT profile_id FROM segment_members WHERE workspace = $1 AND profile_id = ANY($2::text[]) AND segment = ANY($3::text[])', [
                d.workspace,
                asked,
                d.segments,
              ])
            ).rows.map((r) => r.profile_id),
      );
      const planned = planDeliveries(d, rows, (id) => members.has(id));
      let created = 0;
      if (planned.length > 0) {
        const r = await c.query(
          `INSERT INTO deliveries (id, destination, workspace, outbox_seq, kind, profile_id, body, status, attempts, next_attempt_at, created_at)
           SELECT id, $1, $2, outbox_seq, kind, profile_id, body, 'pending', 0, $3, $3
           FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS t(id, outbox_seq, kind, profile_id, body, n) ORDER BY n
           ON CONFLICT DO NOTHING`,
          [d.id, d.workspace, now, planned.map((p) => p.id), planned.map((p) => p.outboxSeq), planned.map((p) => p.kind), planned.map((p) => p.profileId), planned.map((p) => p.body)],
        );
        created = r.rowCount ?? 0;
      }
      if (rows.length > 0) await c.query('UPDATE destination_cursors SET seq = $2 WHERE destination = $1', [d.id, rows[rows.length - 1]!.seq]);
      beforeCommit?.();
      return { scanned: rows.length, created };
    });
  }

  // Sending

  async claimDue(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
    const [any] = await this.rows(`SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1`, [now]);
    if (any === undefined) return [];
    // One statement: rows another process is claiming are skipped, not waited for; a row it
    // claimed meanwhile fails the re-check of next_attempt_at once its lock is taken.
    const rows = await this.rows(
      `WITH due AS (
         SELECT d.seq, d.next_attempt_at AS due_at, t.url, t.secret FROM deliveries d JOIN destinations t ON t.id = d.destination
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND t.enabled
         ORDER BY d.next_attempt_at, d.seq LIMIT $2 FOR UPDATE OF d SKIP LOCKED)
       UPDATE deliveries d SET next_attempt_at = $3 FROM due WHERE d.seq = due.seq
       RETURNING d.*, due.url, due.secret, due.due_at`,
      [now, limit, now + leaseMs],
    );
    rows.sort((a, b) => (a.due_at as number) - (b.due_at as number) || (a.seq as number) - (b.seq as number));
    return rows.map(toDue);
  }

  async delivered(dl: DueDelivery, responseCode: number, now: number): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, response_code = $1, last_error = NULL, next_attempt_at = NULL, delivered_at = $2
       WHERE id = $3 AND status = 'pending' AND next_attempt_at = $4`,
      [responseCode, now, dl.id, dl.leaseUntil],
    );
  }

  async failed(dl: DueDelivery, responseCode: number | null, error: string, now: number, retryAt: number | null): Promise<void> {
    if (retryAt !== null) {
      await this.pool.query(`UPDATE deliveries SET attempts = attempts + 1, response_code = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4 AND status = 'pending' AND next_attempt_at = $5`, [
        responseCode,
        error,
        retryAt,
        dl.id,
        dl.leaseUntil,
      ]);
      return;
    }
    // One statement: the delivery dies and its dead letter appears together, or neither.
    await this.pool.query(
      `WITH dead AS (
         UPDATE deliveries SET status = 'dead', attempts = attempts + 1, response_code = $1, last_error = $2, next_attempt_at = NULL
         WHERE id = $3 AND status = 'pending' AND next_attempt_at = $4
         RETURNING id, destination, workspace, attempts, last_error, response_code)
       INSERT INTO dead_letters (delivery_id, destination, workspace, failed_at, attempts, last_error, response_code)
       SELECT id, destination, workspace, $5, attempts, last_error, response_code FROM dead`,
      [responseCode, error, dl.id, dl.leaseUntil, now],
    );
  }

  async nextDueAt(): Promise<number | undefined> {
    const [r] = await this.rows(`SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN destinations t ON t.id = d.destination WHERE d.status = 'pending' AND t.enabled`);
    return (r?.t as number | null | undefined) ?? undefined;
  }

  async health(): Promise<DestinationHealth[]> {
    return (await this.rows(HEALTH_SQL)).map(toHealth);
  }

  // Logs and replay

  async deliveries(destination: string, o: { status?: DeliveryStatus; after?: number; limit: number }): Promise<Delivery[]> {
    const rows = await this.rows('SELECT * FROM deliveries WHERE destination = $1 AND ($2::text IS NULL OR status = $2) AND seq > $3 ORDER BY seq LIMIT $4', [
      destination,
      o.status ?? null,
      o.after ?? 0,
      o.limit,
    ]);
    return rows.map(toDelivery);
  }

  async deadLetters(destination: string, o: { replayed?: boolean; after?: number; limit: number }): Promise<DeadLetter[]> {
    const rows = await this.rows('SELECT * FROM dead_letters WHERE destination = $1 AND (replayed_at IS NOT NULL) = $2 AND seq > $3 ORDER BY seq LIMIT $4', [
      destination,
      o.replayed === true,
      o.after ?? 0,
      o.limit,
    ]);
    return rows.map(toDeadLetter);
  }

  async replay(destination: string, deliveryId: string | undefined, now: number): Promise<string[]> {
    return withTransaction(this.pool, async (c) => {
      // Locked: two replays at once re-queue each letter once (the second sees it replayed).
      const open = (
        await c.query<{ seq: number; delivery_id: string }>(
          'SELECT seq, delivery_id FROM dead_letters WHERE destination = $1 AND replayed_at IS NULL AND ($2::text IS NULL OR delivery_id = $2) ORDER BY seq FOR UPDATE',
          [destination, deliveryId ?? null],
        )
      ).rows;
      if (open.length === 0) return [];
      const ids = open.map((r) => r.delivery_id);
      await c.query(`UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = ANY($2::text[]) AND status = 'dead'`, [now, ids]);
      await c.query('UPDATE dead_letters SET replayed_at = $1 WHERE seq = ANY($2::bigint[])', [now, open.map((r) => r.seq)]);
      return ids;
    });
  }

  // Writes the engine does in its own commit; here for tests and tools.

  async appendOutbox(rows: ReadonlyArray<Omit<OutboxRow, 'seq'>>): Promise<number[]> {
    if (rows.length === 0) return [];
    return withTransaction(this.pool, (c) => insertOutbox(c, rows));
  }

  async addMembers(rows: ReadonlyArray<{ workspace: string; segment: string; profileId: string; since: number }>): Promise<void> {
    if (rows.length === 0) return;
    // One row per member (a statement may not change a row twice); the last one wins, as in SQLite.
    const byKey = new Map(rows.map((r) => [JSON.stringify([r.workspace, r.segment, r.profileId]), r]));
    const unique = [...byKey.values()];
    await this.pool.query(
      `INSERT INTO segment_members (workspace, segment, profile_id, since) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (workspace, segment, profile_id) DO UPDATE SET since = excluded.since`,
      [unique.map((r) => r.workspace), unique.map((r) => r.segment), unique.map((r) => r.profileId), unique.map((r) => r.since)],
    );
  }

  // Export

  async membersPage(workspace: string, segment: string, after: string, limit: number): Promise<MemberRow[]> {
    const rows = await this.rows(
      `SELECT m.profile_id, m.since, p.doc FROM segment_members m LEFT JOIN profiles p ON p.workspace = m.workspace AND p.id = m.profile_id
       WHERE m.workspace = $1 AND m.segment = $2 AND m.profile_id > $3 ORDER BY m.profile_id LIMIT $4`,
      [workspace, segment, after, limit],
    );
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number, doc: (r.doc as string | null) ?? null }));
  }
}
