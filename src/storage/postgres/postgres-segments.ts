/**
 * Segment and tag storage on PostgreSQL: the same tables and meaning as the
 * SQLite segment store (src/storage/sqlite/sqlite-segments.ts). The engine's
 * part is written by `writeSegmentChanges` inside the state store's commit
 * transaction, with set-based statements (one per table).
 */
import type pg from 'pg';
import type { ProfileDoc } from '../../core/profile.ts';
import type { Changeset, MembershipChange, OutboxEntry, SegmentDefinitionRow, SegmentStore } from '../store.ts';
import { scoped } from '../store.ts';
import { toMembershipChange, toOutboxEntry, toSegmentDefinition } from '../rows.ts';
import { lastByKey } from './postgres-commit.ts';
import { openDoc, type ValueSealer } from '../sealer.ts';
import { withTransaction } from './transaction.ts';
import { checkEvaluated, DEFINITIONS_LOCK, writeSegmentBackfills } from './postgres-partition-segments.ts';

/** Version 3: segments, tags and the outbox; profiles get a storage-order cursor for backfills. */
export const POSTGRES_SEGMENT_SCHEMA = `
ALTER TABLE profiles ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX profiles_seq ON profiles (seq);
CREATE TABLE segment_definitions (
  kind           TEXT COLLATE "C" NOT NULL,
  name           TEXT COLLATE "C" NOT NULL,
  definition     TEXT COLLATE "C" NOT NULL,
  hash           TEXT COLLATE "C" NOT NULL,
  version        INTEGER NOT NULL,
  status         TEXT COLLATE "C" NOT NULL,
  cursor         BIGINT NOT NULL,
  after_position BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  source         TEXT COLLATE "C" NOT NULL DEFAULT 'config',
  PRIMARY KEY (kind, name)
);
CREATE TABLE segment_members (
  workspace  TEXT COLLATE "C" NOT NULL,
  segment    TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  since      BIGINT NOT NULL,
  PRIMARY KEY (workspace, segment, profile_id)
);
CREATE INDEX segment_members_profile ON segment_members (workspace, profile_id);
CREATE TABLE segment_history (
  seq        BIGSERIAL PRIMARY KEY,
  workspace  TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  segment    TEXT COLLATE "C" NOT NULL,
  change     TEXT COLLATE "C" NOT NULL,
  time       BIGINT NOT NULL,
  reason     TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL
);
CREATE INDEX segment_history_profile ON segment_history (workspace, profile_id, seq);
CREATE TABLE segment_sizes (
  workspace TEXT COLLATE "C" NOT NULL,
  segment   TEXT COLLATE "C" NOT NULL,
  at        BIGINT NOT NULL,
  size      BIGINT NOT NULL,
  PRIMARY KEY (workspace, segment, at)
);
CREATE TABLE segment_schedule (
  workspace  TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  due_at     BIGINT NOT NULL,
  PRIMARY KEY (workspace, profile_id)
);
CREATE INDEX segment_schedule_due ON segment_schedule (due_at);
CREATE TABLE profile_tags (
  workspace  TEXT COLLATE "C" NOT NULL,
  tag        TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  since      BIGINT NOT NULL,
  PRIMARY KEY (workspace, tag, profile_id)
);
CREATE INDEX profile_tags_profile ON profile_tags (workspace, profile_id);
CREATE TABLE outbox (
  seq        BIGSERIAL PRIMARY KEY,
  workspace  TEXT COLLATE "C" NOT NULL,
  kind       TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  payload    TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
`;

type Row = Record<string, unknown>;
/**
 * Writes a changeset's segment part and outbox rows inside the caller's
 * transaction. Membership changes are applied in order (a profile may enter
 * and leave a segment in one commit), so they reduce to the last change per
 * (workspace, segment, profile) first; history keeps every change.
 */
export async function writeSegmentChanges(client: pg.PoolClient, c: Changeset): Promise<void> {
  const q = (sql: string, values: unknown[]) => client.query(sql, values);
  const seg = c.segments;
  if (seg !== undefined) {
    if (seg.evaluated !== undefined) await checkEvaluated(client, c.partition, seg.evaluated);
    const last = lastByKey(seg.changes, (m) => `${scoped(m.workspace, m.segment)}\u0000${m.profileId}`);
    const exits = last.filter((m) => m.change === 'exited');
    const enters = last.filter((m) => m.change === 'entered');
    if (exits.length > 0)
      await q(
        `DELETE FROM segment_members s USING unnest($1::text[], $2::text[], $3::text[]) AS d(workspace, segment, profile_id)
         WHERE s.workspace = d.workspace AND s.segment = d.segment AND s.profile_id = d.profile_id`,
        [exits.map((m) => m.workspace), exits.map((m) => m.segment), exits.map((m) => m.profileId)],
      );
    if (enters.length > 0)
      await q(
        `INSERT INTO segment_members (workspace, segment, profile_id, since, partition) SELECT w, s, p, t, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(w, s, p, t)
         ON CONFLICT (workspace, segment, profile_id) DO UPDATE SET since = excluded.since, partition = excluded.partition`,
        [enters.map((m) => m.workspace), enters.map((m) => m.segment), enters.map((m) => m.profileId), enters.map((m) => m.time), c.partition],
      );
    const h = seg.changes;
    if (h.length > 0)
      await q(
        `INSERT INTO segment_history (workspace, profile_id, segment, change, time, reason, position)
         SELECT workspace, profile_id, segment, change, time, reason, position
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
           WITH ORDINALITY AS t(workspace, profile_id, segment, change, time, reason, position, n) ORDER BY n`,
        [h.map((m) => m.workspace), h.map((m) => m.profileId), h.map((m) => m.segment), h.map((m) => m.change), h.map((m) => m.time), h.map((m) => m.reason), h.map((m) => m.position)],
      );
    const schedule = lastByKey(seg.schedule, (d) => scoped(d.workspace, d.profileId));
    const cleared = schedule.filter((d) => d.dueAt === null);
    const due = schedule.filter((d): d is typeof d & { dueAt: number } => d.dueAt !== null);
    if (cleared.length > 0)
      await q('DELETE FROM segment_schedule s USING unnest($1::text[], $2::text[]) AS d(workspace, profile_id) WHERE s.workspace = d.workspace AND s.profile_id = d.profile_id', [
        cleared.map((d) => d.workspace),
        cleared.map((d) => d.profileId),
      ]);
    if (due.length > 0)
      await q(
        `INSERT INTO segment_schedule (workspace, profile_id, due_at, partition) SELECT w, p, d, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(w, p, d)
         ON CONFLICT (workspace, profile_id) DO UPDATE SET due_at = excluded.due_at, partition = excluded.partition`,
        [due.map((d) => d.workspace), due.map((d) => d.profileId), due.map((d) => d.dueAt), c.partition],
      );
    // Each partition keeps its own series (what its members count); a deployment's size is their sum.
    const sizes = lastByKey(seg.sizes, (z) => `${scoped(z.workspace, z.segment)}\u0000${z.at}`);
    if (sizes.length > 0)
      await q(
        `INSERT INTO segment_sizes (workspace, segment, at, size, partition) SELECT w, s, a, n, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(w, s, a, n)
         ON CONFLICT (workspace, segment, at, partition) DO UPDATE SET size = excluded.size`,
        [sizes.map((z) => z.workspace), sizes.map((z) => z.segment), sizes.map((z) => z.at), sizes.map((z) => z.size), c.partition],
      );
    if (seg.definitions && seg.definitions.length > 0) await writeSegmentDefinitions(client, seg.definitions);
    if (seg.backfills && seg.backfills.length > 0) await writeSegmentBackfills(client, seg.backfills);
  }
  const o = c.outbox ?? [];
  if (o.length > 0) await insertOutbox(client, o.map((x) => ({ ...x, payload: JSON.stringify(x.payload) })));
}

/** Taken before a transaction's outbox rows get their seqs, held until it commits (see insertOutbox). */
const OUTBOX_ORDER_LOCK = 'portrait.outbox_order';

/**
 * Appends outbox rows inside the caller's transaction; returns their seqs in
 * row order. Seqs come from a sequence, which concurrent transactions may
 * commit out of order: a reader following a cursor would then pass a seq
 * still invisible to it and never see it. The advisory lock makes outbox
 * writers take seqs and commit one after another, so what a reader sees is
 * always every row up to some seq (delivery cursors rely on it).
 */
export async function insertOutbox(client: pg.PoolClient, o: ReadonlyArray<Omit<OutboxEntry, 'payload' | 'kind'> & { kind: string; payload: string }>): Promise<number[]> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [OUTBOX_ORDER_LOCK]);
  const r = await client.query<{ seq: number }>(
    `INSERT INTO outbox (workspace, kind, profile_id, payload, position, created_at)
     SELECT workspace, kind, profile_id, payload, position, created_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
       WITH ORDINALITY AS t(workspace, kind, profile_id, payload, position, created_at, n) ORDER BY n
     RETURNING seq`,
    [o.map((x) => x.workspace), o.map((x) => x.kind), o.map((x) => x.profileId), o.map((x) => x.payload), o.map((x) => x.position), o.map((x) => x.createdAt)],
  );
  // Seqs are drawn in row order (ORDER BY n); RETURNING need not keep it.
  return r.rows.map((x) => x.seq).sort((a, b) => a - b);
}

async function writeSegmentDefinitions(db: pg.Pool | pg.PoolClient, rows: readonly SegmentDefinitionRow[]): Promise<void> {
  const d = lastByKey(rows, (r) => `${r.kind}\u0000${r.name}`);
  if (d.length === 0) return;
  await db.query(
    `INSERT INTO segment_definitions (kind, name, definition, hash, version, status, cursor, after_position, updated_at, source)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
     ON CONFLICT (kind, name) DO UPDATE SET definition = excluded.definition, hash = excluded.hash, version = excluded.version, status = excluded.status,
       cursor = excluded.cursor, after_position = excluded.after_position, updated_at = excluded.updated_at, source = excluded.source`,
    [
      d.map((r) => r.kind),
      d.map((r) => r.name),
      d.map((r) => JSON.stringify(r.definition)),
      d.map((r) => r.hash),
      d.map((r) => r.version),
      d.map((r) => r.status),
      d.map((r) => r.cursor),
      d.map((r) => r.after),
      d.map((r) => r.updatedAt),
      d.map((r) => r.source),
    ],
  );
}

export class PostgresSegmentStore implements SegmentStore {
  constructor(
    private readonly pool: pg.Pool,
    /** Opens personal attribute values sealed at rest (absent: stored as they are). */
    private readonly sealer?: ValueSealer,
  ) {}

  private async rows(sql: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query<Row>(sql, values)).rows;
  }

  async definitions(): Promise<SegmentDefinitionRow[]> {
    return (await this.rows('SELECT * FROM segment_definitions ORDER BY kind, name')).map(toSegmentDefinition);
  }

  /** Saves definitions; under the definitions lock, so no partition commit evaluating the old ones lands after (see checkEvaluated). */
  async saveDefinitions(rows: SegmentDefinitionRow[]): Promise<void> {
    if (rows.length === 0) return;
    await withTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [DEFINITIONS_LOCK]);
      await writeSegmentDefinitions(client, rows);
      // A backfill starting over, of the same version too (a tag its tests covered was dropped): partitioned
      // workers forget their progress on it and evaluate their profiles again when they next read the definitions.
      const restarted = rows.filter((r) => r.status === 'backfilling' && r.cursor === 0);
      if (restarted.length > 0) {
        await client.query('DELETE FROM segment_backfills b USING unnest($1::text[], $2::text[]) AS k(kind, name) WHERE b.kind = k.kind AND b.name = k.name', [
          restarted.map((r) => r.kind),
          restarted.map((r) => r.name),
        ]);
      }
    });
  }

  async deleteDefinition(kind: SegmentDefinitionRow['kind'], name: string): Promise<void> {
    const key = kind === 'tag' ? `tag:${name}` : name;
    await withTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [DEFINITIONS_LOCK]);
      await client.query('DELETE FROM segment_definitions WHERE kind = $1 AND name = $2', [kind, name]);
      await client.query('DELETE FROM segment_members WHERE segment = $1', [key]);
      // The partitions' size series and backfill progress go too: a definition made again with this name starts from nothing.
      await client.query('DELETE FROM segment_sizes WHERE segment = $1', [key]);
      await client.query('DELETE FROM segment_backfills WHERE kind = $1 AND name = $2', [kind, name]);
      if (kind === 'tag') await client.query('DELETE FROM profile_tags WHERE tag = $1', [name]);
    });
  }

  /** Changes whenever a segment or tag definition is added, changed (a new version) or removed. */
  async definitionsFingerprint(): Promise<string> {
    const [r] = await this.rows(`SELECT string_agg(kind || ':' || name || ':' || hash, ',' ORDER BY kind, name) AS f FROM segment_definitions`);
    return (r?.f as string | null) ?? '';
  }

  /**
   * Partitioned workers: each backfilling version's share of profiles
   * evaluated over all partitions (a partition not started yet counts as
   * none), keyed `kind\0name\0hash`.
   */
  async backfillProgress(partitions: number): Promise<Map<string, number>> {
    const rows = await this.rows(
      `SELECT b.kind, b.name, b.hash, b.cursor, b.done, (SELECT MAX(seq) FROM profiles p WHERE p.partition = b.partition) AS last
       FROM segment_backfills b JOIN segment_definitions d ON d.kind = b.kind AND d.name = b.name AND d.hash = b.hash WHERE d.status <> 'live'`,
    );
    const out = new Map<string, number>();
    for (const r of rows) {
      const key = `${r.kind as string}\u0000${r.name as string}\u0000${r.hash as string}`;
      const last = (r.last as number | null) ?? 0;
      const share = r.done ? 1 : last > 0 ? Math.min(1, (r.cursor as number) / last) : 0;
      out.set(key, (out.get(key) ?? 0) + share / partitions);
    }
    return out;
  }

  async memberships(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, Map<string, number>>> {
    const out = new Map<string, Map<string, number>>();
    for (const k of keys) out.set(scoped(k.workspace, k.id), new Map());
    if (keys.length === 0) return out;
    const rows = await this.rows(
      `SELECT m.workspace, m.profile_id, m.segment, m.since FROM segment_members m
         JOIN unnest($1::text[], $2::text[]) AS k(workspace, id) ON m.workspace = k.workspace AND m.profile_id = k.id`,
      [keys.map((k) => k.workspace), keys.map((k) => k.id)],
    );
    for (const r of rows) out.get(scoped(r.workspace as string, r.profile_id as string))?.set(r.segment as string, r.since as number);
    return out;
  }

  async schedule(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (keys.length === 0) return out;
    const rows = await this.rows(
      `SELECT s.workspace, s.profile_id, s.due_at FROM segment_schedule s
         JOIN unnest($1::text[], $2::text[]) AS k(workspace, id) ON s.workspace = k.workspace AND s.profile_id = k.id`,
      [keys.map((k) => k.workspace), keys.map((k) => k.id)],
    );
    for (const r of rows) out.set(scoped(r.workspace as string, r.profile_id as string), r.due_at as number);
    return out;
  }

  async due(now: number, limit: number): Promise<Array<{ workspace: string; id: string; dueAt: number }>> {
    const rows = await this.rows('SELECT workspace, profile_id, due_at FROM segment_schedule WHERE due_at <= $1 ORDER BY due_at, workspace, profile_id LIMIT $2', [now, limit]);
    return rows.map((r) => ({ workspace: r.workspace as string, id: r.profile_id as string, dueAt: r.due_at as number }));
  }

  async nextDue(): Promise<number | undefined> {
    const [r] = await this.rows('SELECT MIN(due_at) AS d FROM segment_schedule');
    return (r?.d as number | null) ?? undefined;
  }

  async profilesAfter(cursor: number, limit: number): Promise<Array<{ cursor: number; doc: ProfileDoc }>> {
    const rows = await this.rows('SELECT seq, doc FROM profiles WHERE seq > $1 ORDER BY seq LIMIT $2', [cursor, limit]);
    return rows.map((x) => ({ cursor: x.seq as number, doc: openDoc(this.sealer, JSON.parse(x.doc as string) as ProfileDoc) }));
  }

  async lastProfileCursor(): Promise<number> {
    const [r] = await this.rows('SELECT MAX(seq) AS r FROM profiles');
    return (r?.r as number | null) ?? 0;
  }

  async orphanMemberships(limit: number): Promise<Array<{ workspace: string; id: string }>> {
    const rows = await this.rows(
      `SELECT DISTINCT m.workspace, m.profile_id FROM segment_members m
       WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.workspace = m.workspace AND p.id = m.profile_id) LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ workspace: r.workspace as string, id: r.profile_id as string }));
  }

  async sizes(): Promise<Array<{ workspace: string; segment: string; size: number }>> {
    const rows = await this.rows('SELECT workspace, segment, COUNT(*) AS size FROM segment_members GROUP BY workspace, segment');
    return rows.map((r) => ({ workspace: r.workspace as string, segment: r.segment as string, size: Number(r.size) }));
  }

  async members(workspace: string, segment: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    const rows = await this.rows('SELECT profile_id, since FROM segment_members WHERE workspace = $1 AND segment = $2 AND profile_id > $3 ORDER BY profile_id LIMIT $4', [
      workspace,
      segment,
      opts.after ?? '',
      opts.limit,
    ]);
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number }));
  }

  /**
   * Sizes over time. Each partition writes its own series: the size at an
   * instant is the sum of every partition's last size at or before it (one
   * partition: its series as written).
   */
  async sizeHistory(workspace: string, segment: string, opts: { from?: number; to?: number; limit: number }): Promise<Array<{ at: number; size: number }>> {
    const rows = await this.rows(
      `WITH instants AS (
         SELECT DISTINCT at FROM segment_sizes WHERE workspace = $1 AND segment = $2 AND at >= $3 AND at <= $4 ORDER BY at DESC LIMIT $5)
       SELECT i.at, (SELECT COALESCE(SUM(l.size), 0) FROM (
           SELECT DISTINCT ON (s.partition) s.size FROM segment_sizes s
           WHERE s.workspace = $1 AND s.segment = $2 AND s.at <= i.at ORDER BY s.partition, s.at DESC) l)::bigint AS size
       FROM instants i ORDER BY i.at DESC`,
      [workspace, segment, opts.from ?? 0, opts.to ?? Number.MAX_SAFE_INTEGER, opts.limit],
    );
    return rows.map((r) => ({ at: r.at as number, size: r.size as number }));
  }

  async membershipHistory(workspace: string, profileId: string, limit: number): Promise<MembershipChange[]> {
    return (await this.rows('SELECT * FROM segment_history WHERE workspace = $1 AND profile_id = $2 ORDER BY seq DESC LIMIT $3', [workspace, profileId, limit])).map(toMembershipChange);
  }

  async outbox(opts: { after?: number; limit: number }): Promise<Array<OutboxEntry & { seq: number }>> {
    return (await this.rows('SELECT * FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2', [opts.after ?? 0, opts.limit])).map(toOutboxEntry);
  }

  async setTag(workspace: string, tag: string, profileId: string, since: number): Promise<boolean> {
    const r = await this.pool.query('INSERT INTO profile_tags (workspace, tag, profile_id, since) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [workspace, tag, profileId, since]);
    return (r.rowCount ?? 0) > 0;
  }

  async unsetTag(workspace: string, tag: string, profileId: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM profile_tags WHERE workspace = $1 AND tag = $2 AND profile_id = $3', [workspace, tag, profileId]);
    return (r.rowCount ?? 0) > 0;
  }

  async storedManualTags(): Promise<Array<{ workspace: string; tag: string; profileId: string; since: number }>> {
    const rows = await this.rows('SELECT workspace, tag, profile_id, since FROM profile_tags ORDER BY workspace, tag, profile_id', []);
    return rows.map((r) => ({ workspace: String(r.workspace), tag: String(r.tag), profileId: String(r.profile_id), since: Number(r.since) }));
  }

  async profileTags(workspace: string, profileId: string): Promise<Array<{ tag: string; since: number; source: 'manual' | 'rule' }>> {
    const rows = await this.rows(
      `SELECT tag, since, 'manual' AS source FROM profile_tags WHERE workspace = $1 AND profile_id = $2
       UNION ALL SELECT substr(segment, 5) AS tag, since, 'rule' AS source FROM segment_members
         WHERE workspace = $1 AND profile_id = $2 AND segment LIKE 'tag:%'
       ORDER BY tag`,
      [workspace, profileId],
    );
    return rows.map((r) => ({ tag: r.tag as string, since: r.since as number, source: r.source as 'manual' | 'rule' }));
  }

  async tagCounts(workspace: string): Promise<Array<{ tag: string; count: number }>> {
    const rows = await this.rows(
      `SELECT tag, COUNT(*) AS count FROM (
         SELECT tag, profile_id FROM profile_tags WHERE workspace = $1
         UNION SELECT substr(segment, 5) AS tag, profile_id FROM segment_members WHERE workspace = $1 AND segment LIKE 'tag:%') t
       GROUP BY tag ORDER BY tag`,
      [workspace],
    );
    return rows.map((r) => ({ tag: r.tag as string, count: Number(r.count) }));
  }

  async tagMembers(workspace: string, tag: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    const rows = await this.rows(
      `SELECT profile_id, MIN(since) AS since FROM (
         SELECT profile_id, since FROM profile_tags WHERE workspace = $1 AND tag = $2
         UNION ALL SELECT profile_id, since FROM segment_members WHERE workspace = $1 AND segment = $3) t
       WHERE profile_id > $4 GROUP BY profile_id ORDER BY profile_id LIMIT $5`,
      [workspace, tag, `tag:${tag}`, opts.after ?? '', opts.limit],
    );
    return rows.map((r) => ({ profileId: r.profile_id as string, since: Number(r.since) }));
  }
}
