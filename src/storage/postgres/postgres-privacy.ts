/**
 * Erasure storage on PostgreSQL: the ledger, the suppression list (keyed
 * hashes only) and the engine's erasure transaction, with the same meaning as
 * the SQLite store (src/storage/sqlite/sqlite-privacy.ts). Sequence numbers
 * need no renumbering here: the dump numbers rows in order, gaps aside.
 */
import type pg from 'pg';
import { ERASED_BY_PROFILE, toErasure, type Row } from '../rows.ts';
import type { ValueSealer } from '../sealer.ts';
import type { ErasurePlan, ErasureRow, PrivacyStore } from '../store.ts';
import { claimPosition, writeControl } from './postgres-commit.ts';
import { deletePerson, writeErased, writeGroups } from './postgres-person.ts';
import { withRetriedTransaction, withTransaction } from './transaction.ts';

/** Version 7: the erasure ledger and the suppression list. */
export const POSTGRES_PRIVACY_SCHEMA = `
CREATE TABLE erasures (
  seq          BIGSERIAL PRIMARY KEY,
  id           TEXT COLLATE "C" NOT NULL UNIQUE,
  workspace    TEXT COLLATE "C" NOT NULL,
  status       TEXT COLLATE "C" NOT NULL,
  requested_at BIGINT NOT NULL,
  completed_at BIGINT,
  key_id       TEXT COLLATE "C",
  counts       TEXT COLLATE "C" NOT NULL
);
CREATE INDEX erasures_ws ON erasures (workspace, seq);
CREATE TABLE suppressions (
  workspace  TEXT COLLATE "C" NOT NULL,
  hash       TEXT COLLATE "C" NOT NULL,
  erasure_id TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workspace, hash)
);
`;


/** Tables an erasure deletes from, vacuumed by `compact` so dead rows do not keep the bytes. */
const ERASED_TABLES = ['profiles', 'identities', 'identity_links', 'blocked_links', 'merges', 'identity_conflicts', 'quarantine', ...ERASED_BY_PROFILE.map(([t]) => t)];

export class PostgresPrivacyStore implements PrivacyStore {
  constructor(
    private readonly pool: pg.Pool,
    /** Seals personal attribute values of the group documents an erasure rewrites, as commits do. */
    private readonly sealer?: ValueSealer,
  ) {}

  async suppressions(): Promise<Array<{ workspace: string; hash: string }>> {
    return (await this.pool.query<{ workspace: string; hash: string }>('SELECT workspace, hash FROM suppressions')).rows;
  }

  async suppressionCount(): Promise<number> {
    return Number((await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM suppressions')).rows[0]!.n);
  }

  async suppressedBy(workspace: string, hashes: readonly string[]): Promise<{ erasureId: string; createdAt: number } | undefined> {
    if (hashes.length === 0) return undefined;
    const r = await this.pool.query<{ erasure_id: string; created_at: string }>(
      'SELECT erasure_id, created_at FROM suppressions WHERE workspace = $1 AND hash = ANY($2::text[]) ORDER BY created_at, erasure_id LIMIT 1',
      [workspace, [...hashes]],
    );
    const row = r.rows[0];
    return row === undefined ? undefined : { erasureId: row.erasure_id, createdAt: Number(row.created_at) };
  }

  async requestErasure(row: ErasureRow, hashes: readonly string[]): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      await c.query('INSERT INTO erasures (id, workspace, status, requested_at, completed_at, key_id, counts) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        row.id,
        row.workspace,
        row.status,
        row.requestedAt,
        row.completedAt,
        row.keyId,
        JSON.stringify(row.counts),
      ]);
      if (hashes.length > 0)
        await c.query(
          'INSERT INTO suppressions (workspace, hash, erasure_id, created_at) SELECT $1, h, $3, $4 FROM unnest($2::text[]) AS t(h) ON CONFLICT DO NOTHING',
          [row.workspace, [...hashes], row.id, row.requestedAt],
        );
    });
  }

  async erasure(workspace: string, id: string): Promise<ErasureRow | undefined> {
    const r = await this.pool.query<Row>('SELECT * FROM erasures WHERE workspace = $1 AND id = $2', [workspace, id]);
    return r.rows[0] ? toErasure(r.rows[0]) : undefined;
  }

  async erasures(workspace: string, opts: { limit: number; before?: string }): Promise<ErasureRow[]> {
    const r = await this.pool.query<Row>(
      `SELECT * FROM erasures WHERE workspace = $1
         AND seq < COALESCE((SELECT seq FROM erasures WHERE workspace = $1 AND id = $2), 9223372036854775807)
       ORDER BY seq DESC LIMIT $3`,
      [workspace, opts.before ?? '', opts.limit],
    );
    return r.rows.map(toErasure);
  }

  async erase(plan: ErasurePlan): Promise<{ profileIds: string[]; counts: Record<string, number> }> {
    const ws = plan.workspace;
    // Only queries: run again when chosen as a deadlock's victim (another partition forgetting the same person).
    return withRetriedTransaction(this.pool, async (c) => {
      const run = async (sql: string, values: unknown[]) => (await c.query(sql, values)).rowCount ?? 0;
      // The profile and every profile merged into it (merges are recorded survivor ← absorbed).
      const merged = await c.query<{ id: string }>(
        `WITH RECURSIVE absorbed(id) AS (SELECT $2::text COLLATE "C" UNION SELECT m.from_id FROM merges m JOIN absorbed a ON m.into_id = a.id WHERE m.workspace = $1 AND m.kind = 'merge')
         SELECT id FROM absorbed ORDER BY id`,
        [ws, plan.profileId],
      );
      const P = merged.rows.map((r) => r.id);
      const I = [...plan.identKeys];
      const counts: Record<string, number> = { events: plan.events, eventsRedacted: plan.eventsRedacted };
      // Segments that lose a member get a new size row, as a membership change would write.
      const segments = (await c.query<{ segment: string }>('SELECT DISTINCT segment FROM segment_members WHERE workspace = $1 AND profile_id = ANY($2::text[])', [ws, P])).rows;
      Object.assign(counts, await deletePerson(c, ws, P, I, plan.forget === undefined ? undefined : { partition: plan.partition, upTo: plan.position }));
      // Partitioned workers: every other partition forgets the person too, in its own log order (see deletePerson).
      if (plan.forget !== undefined) await writeControl(c, plan.partition, plan.forget(P, I));
      if (plan.erased !== undefined) await writeErased(c, plan.partition, plan.erased);
      counts.deadLetters = await run('DELETE FROM dead_letters WHERE delivery_id IN (SELECT id FROM deliveries WHERE workspace = $1 AND profile_id = ANY($2::text[]))', [ws, P]);
      counts.deliveries = await run('DELETE FROM deliveries WHERE workspace = $1 AND profile_id = ANY($2::text[])', [ws, P]);
      for (const { segment } of segments)
        await c.query(
          // The erasing partition's series: the members it counts (one partition: all of them).
          `INSERT INTO segment_sizes (workspace, segment, at, size, partition) SELECT $1, $2, $3, COUNT(*), $4 FROM segment_members WHERE workspace = $1 AND segment = $2 AND partition = $4
           ON CONFLICT (workspace, segment, at, partition) DO UPDATE SET size = excluded.size`,
          [ws, segment, plan.sizesAt, plan.partition],
        );
      Object.assign(counts, await writeGroups(c, ws, plan.groups, this.sealer, plan.forget === undefined ? undefined : plan.partition));
      const matching = (await c.query<{ id: number; raw: string }>('SELECT id, raw FROM quarantine WHERE workspace = $1', [ws])).rows.filter((r) => plan.quarantineMatches(r.raw)).map((r) => r.id);
      counts.quarantine = matching.length > 0 ? await run('DELETE FROM quarantine WHERE id = ANY($1::bigint[])', [matching]) : 0;
      // No models exist yet: nothing holds training rows.
      counts.modelTrainingRows = 0;
      // A stale writer (a worker that lost the partition) writes nothing, as with any other commit.
      await claimPosition(c, plan);
      // A rebuild replays the erase record again: the ledger keeps the counts of the first time.
      await c.query(`UPDATE erasures SET status = 'completed', completed_at = $1, counts = $2 WHERE workspace = $3 AND id = $4 AND status = 'pending'`, [
        plan.completedAt,
        JSON.stringify(counts),
        ws,
        plan.erasureId,
      ]);
      return { profileIds: P, counts };
    });
  }

  /** Vacuums the tables erasures delete from, so the dead rows holding the person's data are reclaimed. */
  async compact(): Promise<void> {
    for (const t of ERASED_TABLES) await this.pool.query(`VACUUM ${t}`);
  }
}
