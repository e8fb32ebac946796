/**
 * Segments on partitioned workers: one partition's view of the segment
 * tables. Each partition engine evaluates the profiles it writes, keeps its
 * own re-evaluation schedule, member counts, size series and backfill
 * progress, all keyed by the partition of the engine that wrote them (never by
 * where an id hashes), so a partition taken over by another worker resumes
 * exactly where its last commit left it.
 */
import type pg from 'pg';
import { Errors } from '../../core/errors.ts';
import type { ProfileDoc } from '../../core/profile.ts';
import type { MembershipChange, OutboxEntry, SegmentBackfill, SegmentDefinitionRow, SegmentStore } from '../store.ts';
import { openDoc, type ValueSealer } from '../sealer.ts';
import type { PostgresSegmentStore } from './postgres-segments.ts';

/** Version 10: the partition of the engine that wrote each profile, membership and schedule row, per-partition size series, and segment backfill progress per partition. */
export const POSTGRES_PARTITION_SEGMENT_SCHEMA = `
ALTER TABLE profiles ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
CREATE INDEX profiles_partition_seq ON profiles (partition, seq);
ALTER TABLE segment_members ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
CREATE INDEX segment_members_partition ON segment_members (partition, workspace, segment);
ALTER TABLE segment_schedule ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
CREATE INDEX segment_schedule_partition_due ON segment_schedule (partition, due_at);
ALTER TABLE segment_sizes ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segment_sizes DROP CONSTRAINT segment_sizes_pkey;
ALTER TABLE segment_sizes ADD PRIMARY KEY (workspace, segment, at, partition);
CREATE INDEX segment_sizes_partition ON segment_sizes (workspace, segment, partition, at);
CREATE TABLE segment_backfills (
  kind           TEXT COLLATE "C" NOT NULL,
  name           TEXT COLLATE "C" NOT NULL,
  partition      INTEGER NOT NULL,
  hash           TEXT COLLATE "C" NOT NULL,
  cursor         BIGINT NOT NULL,
  after_position BIGINT NOT NULL,
  done           BOOLEAN NOT NULL,
  PRIMARY KEY (kind, name, partition)
);
`;

/**
 * Definition changes take this advisory lock exclusively; partition commits
 * writing memberships take it shared and check the definitions they
 * evaluated are still the stored ones (checkEvaluated).
 */
export const DEFINITIONS_LOCK = 'portrait.segment_definitions';

type Evaluated = ReadonlyArray<{ kind: string; name: string; hash: string }>;

/**
 * Fails with PORTRAIT_STALE_WRITER unless the stored definitions are exactly
 * those evaluated: a definition removed or changed on another node since the
 * engine loaded them must not get memberships written after the change.
 */
export async function checkEvaluated(client: pg.PoolClient, partition: number, evaluated: Evaluated): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [DEFINITIONS_LOCK]);
  const r = await client.query<{ n: number; same: number }>(
    `SELECT (SELECT COUNT(*) FROM segment_definitions)::int AS n,
            (SELECT COUNT(*) FROM segment_definitions d JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(kind, name, hash)
               ON d.kind = k.kind AND d.name = k.name AND d.hash = k.hash)::int AS same`,
    [evaluated.map((e) => e.kind), evaluated.map((e) => e.name), evaluated.map((e) => e.hash)],
  );
  const row = r.rows[0]!;
  if (row.n !== evaluated.length || row.same !== evaluated.length) throw Errors.staleSegmentDefinitions(partition);
}

/**
 * Records partitions' segment backfill progress. The last partition done
 * with a version sets its definition live; a partition starting again (a
 * trait it reads was recomputed there) sets it backfilling.
 */
export async function writeSegmentBackfills(db: pg.Pool | pg.PoolClient, rows: readonly SegmentBackfill[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO segment_backfills (kind, name, partition, hash, cursor, after_position, done)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], $7::boolean[])
     ON CONFLICT (kind, name, partition) DO UPDATE SET hash = excluded.hash, cursor = excluded.cursor, after_position = excluded.after_position, done = excluded.done`,
    [rows.map((r) => r.kind), rows.map((r) => r.name), rows.map((r) => r.partition), rows.map((r) => r.hash), rows.map((r) => r.cursor), rows.map((r) => r.after), rows.map((r) => r.done)],
  );
  for (const r of rows) {
    // Partitions finishing at once: the row lock orders them, so the later one's count sees the earlier one's row.
    await db.query('SELECT 1 FROM segment_definitions WHERE kind = $1 AND name = $2 AND hash = $3 FOR UPDATE', [r.kind, r.name, r.hash]);
    if (r.done)
      await db.query(
        `UPDATE segment_definitions SET status = 'live', cursor = 0
         WHERE kind = $1 AND name = $2 AND hash = $3 AND status <> 'live'
           AND (SELECT COUNT(*) FROM segment_backfills b WHERE b.kind = $1 AND b.name = $2 AND b.hash = $3 AND b.done AND b.partition < $4) >= $4`,
        [r.kind, r.name, r.hash, r.partitions],
      );
    else await db.query(`UPDATE segment_definitions SET status = 'backfilling' WHERE kind = $1 AND name = $2 AND hash = $3 AND status = 'live'`, [r.kind, r.name, r.hash]);
  }
}

/** What the partition view needs of the PostgreSQL store. */
interface Parts {
  pool: pg.Pool;
  shared: PostgresSegmentStore;
  sealer?: ValueSealer;
  partition: number;
  partitions: number;
  /** The partition's log head: a rebuild's re-evaluation waits until the partition has replayed up to it. */
  head: () => number;
}

/**
 * One partition's segment store: shared definitions with this partition's
 * backfill progress; due re-evaluations, backfill pages, member counts and
 * orphans of this partition only. Reads of single profiles go to the shared
 * tables (a profile's rows are its own, whichever partition wrote them).
 */
export class PartitionSegmentStore implements SegmentStore {
  constructor(private readonly p: Parts) {}

  private async rows<R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<R[]> {
    return (await this.p.pool.query<R>(sql, values)).rows;
  }

  /**
   * The stored definitions with this partition's progress. A version the
   * partition has not met yet starts a backfill over its profiles here,
   * stored before the engine commits anything with it, so a restart or a
   * takeover resumes the same pass. A rebuild's re-evaluation (`after` past
   * anything committed) waits for the partition's replay up to its head.
   */
  async definitions(): Promise<SegmentDefinitionRow[]> {
    const { partition } = this.p;
    const shared = await this.p.shared.definitions();
    const progress = async () => new Map((await this.progress()).map((b) => [`${b.kind}\u0000${b.name}`, b]));
    let mine = await progress();
    const starts: SegmentBackfill[] = [];
    // Every version, a manual tag's included (decisions on it may be folded already), is evaluated over the partition's profiles.
    for (const r of shared) {
      const b = mine.get(`${r.kind}\u0000${r.name}`);
      if (b !== undefined && b.hash === r.hash) continue;
      starts.push({ kind: r.kind, name: r.name, hash: r.hash, partition, cursor: 0, after: Math.min(r.after, this.p.head()), done: false, partitions: this.p.partitions });
    }
    if (starts.length > 0) {
      // A row of the same version stored meanwhile (another worker met it first) is kept.
      await this.p.pool.query(
        `INSERT INTO segment_backfills (kind, name, partition, hash, cursor, after_position, done)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], $7::boolean[])
         ON CONFLICT (kind, name, partition) DO UPDATE SET hash = excluded.hash, cursor = excluded.cursor, after_position = excluded.after_position, done = excluded.done
         WHERE segment_backfills.hash <> excluded.hash`,
        [starts.map((r) => r.kind), starts.map((r) => r.name), starts.map((r) => r.partition), starts.map((r) => r.hash), starts.map((r) => r.cursor), starts.map((r) => r.after), starts.map((r) => r.done)],
      );
      mine = await progress();
    }
    return shared.map((r) => {
      const b = mine.get(`${r.kind}\u0000${r.name}`);
      if (b === undefined || b.hash !== r.hash) return r;
      return { ...r, status: b.done ? 'live' : 'backfilling', cursor: b.cursor, after: b.after };
    });
  }

  private async progress(): Promise<Array<Omit<SegmentBackfill, 'partitions'>>> {
    const rows = await this.rows<{ kind: SegmentDefinitionRow['kind']; name: string; hash: string; cursor: number; after_position: number; done: boolean }>(
      'SELECT kind, name, hash, cursor, after_position, done FROM segment_backfills WHERE partition = $1',
      [this.p.partition],
    );
    return rows.map((x) => ({ kind: x.kind, name: x.name, hash: x.hash, partition: this.p.partition, cursor: Number(x.cursor), after: Number(x.after_position), done: x.done }));
  }

  saveDefinitions(rows: SegmentDefinitionRow[]): Promise<void> {
    return this.p.shared.saveDefinitions(rows);
  }

  deleteDefinition(kind: SegmentDefinitionRow['kind'], name: string): Promise<void> {
    return this.p.shared.deleteDefinition(kind, name);
  }

  memberships(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, Map<string, number>>> {
    return this.p.shared.memberships(keys);
  }

  schedule(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, number>> {
    return this.p.shared.schedule(keys);
  }

  async due(now: number, limit: number): Promise<Array<{ workspace: string; id: string; dueAt: number }>> {
    const rows = await this.rows<{ workspace: string; profile_id: string; due_at: number }>(
      'SELECT workspace, profile_id, due_at FROM segment_schedule WHERE partition = $1 AND due_at <= $2 ORDER BY due_at, workspace, profile_id LIMIT $3',
      [this.p.partition, now, limit],
    );
    return rows.map((r) => ({ workspace: r.workspace, id: r.profile_id, dueAt: r.due_at }));
  }

  async nextDue(): Promise<number | undefined> {
    const [r] = await this.rows<{ d: number | null }>('SELECT MIN(due_at) AS d FROM segment_schedule WHERE partition = $1', [this.p.partition]);
    return r?.d ?? undefined;
  }

  async profilesAfter(cursor: number, limit: number): Promise<Array<{ cursor: number; doc: ProfileDoc }>> {
    const rows = await this.rows<{ seq: number; doc: string }>('SELECT seq, doc FROM profiles WHERE partition = $1 AND seq > $2 ORDER BY seq LIMIT $3', [this.p.partition, cursor, limit]);
    return rows.map((x) => ({ cursor: x.seq, doc: openDoc(this.p.sealer, JSON.parse(x.doc) as ProfileDoc) }));
  }

  async lastProfileCursor(): Promise<number> {
    const [r] = await this.rows<{ r: number | null }>('SELECT MAX(seq) AS r FROM profiles WHERE partition = $1', [this.p.partition]);
    return r?.r ?? 0;
  }

  /** Memberships this partition wrote whose profile no longer exists (after a rebuild): each partition ends its own. */
  async orphanMemberships(limit: number): Promise<Array<{ workspace: string; id: string }>> {
    const rows = await this.rows<{ workspace: string; profile_id: string }>(
      `SELECT DISTINCT m.workspace, m.profile_id FROM segment_members m
       WHERE m.partition = $1 AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.workspace = m.workspace AND p.id = m.profile_id) LIMIT $2`,
      [this.p.partition, limit],
    );
    return rows.map((r) => ({ workspace: r.workspace, id: r.profile_id }));
  }

  /** The members this partition counts (the rows it wrote): the base its size series grows from. */
  async sizes(): Promise<Array<{ workspace: string; segment: string; size: number }>> {
    const rows = await this.rows<{ workspace: string; segment: string; size: number }>(
      'SELECT workspace, segment, COUNT(*)::bigint AS size FROM segment_members WHERE partition = $1 GROUP BY workspace, segment',
      [this.p.partition],
    );
    return rows.map((r) => ({ workspace: r.workspace, segment: r.segment, size: Number(r.size) }));
  }

  members(workspace: string, segment: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    return this.p.shared.members(workspace, segment, opts);
  }

  sizeHistory(workspace: string, segment: string, opts: { from?: number; to?: number; limit: number }): Promise<Array<{ at: number; size: number }>> {
    return this.p.shared.sizeHistory(workspace, segment, opts);
  }

  membershipHistory(workspace: string, profileId: string, limit: number): Promise<MembershipChange[]> {
    return this.p.shared.membershipHistory(workspace, profileId, limit);
  }

  outbox(opts: { after?: number; limit: number }): Promise<Array<OutboxEntry & { seq: number }>> {
    return this.p.shared.outbox(opts);
  }

  setTag(workspace: string, tag: string, profileId: string, since: number): Promise<boolean> {
    return this.p.shared.setTag(workspace, tag, profileId, since);
  }

  unsetTag(workspace: string, tag: string, profileId: string): Promise<boolean> {
    return this.p.shared.unsetTag(workspace, tag, profileId);
  }

  storedManualTags(): Promise<Array<{ workspace: string; tag: string; profileId: string; since: number }>> {
    return this.p.shared.storedManualTags();
  }

  profileTags(workspace: string, profileId: string): Promise<Array<{ tag: string; since: number; source: 'manual' | 'rule' }>> {
    return this.p.shared.profileTags(workspace, profileId);
  }

  tagCounts(workspace: string): Promise<Array<{ tag: string; count: number }>> {
    return this.p.shared.tagCounts(workspace);
  }

  tagMembers(workspace: string, tag: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    return this.p.shared.tagMembers(workspace, tag, opts);
  }
}
