/**
 * The state store on PostgreSQL (driver `pg`), for scale-out deployments:
 * the same tables and meaning as the SQLite store. Every statement is
 * parameterised; a commit is one transaction of set-based statements (one
 * INSERT … SELECT FROM unnest(arrays) per table), so its cost grows with rows,
 * not round trips.
 */
import { PostgresDataKeys, PostgresRetention } from './postgres-data-keys.ts';
import { PostgresPrivacyStore } from './postgres-privacy.ts';
import { withRetriedTransaction, withTransaction } from './transaction.ts';
import pg from 'pg';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../../core/identity.ts';
import { canonicalJson, type ProfileDoc } from '../../core/profile.ts';
import { awayTo, type ControlRecord } from '../../core/control.ts';
import { Errors, isPortraitError } from '../../core/errors.ts';
import { auditWhere, toAuditRecord, type AuditQuery, type AuditRecord, type AuditStore } from '../audit.ts';
import type { Migratable, Migration, MigrationStatus } from '../migrations.ts';
import { openDoc, type ResealableStore, type RewriteReport, type SealedRewrite, type ValueSealer } from '../sealer.ts';
import { rewriteSealedPostgres } from './postgres-reseal.ts';
import { DUMP_TABLES, openedConflictRow, openedEntries, pageHistory, toAttributeConflict, toDefinition, toIdentityConflict, toKey, toLink, toMerge, toQuarantine, type Row } from '../rows.ts';
import type { ApiKeyRow, AttributeConflict, AttributePrefilter, Changeset, DefinitionRow, ErasedIdentifier, HistoryEntry, PartitionBackfill, NewQuarantineRow, ProfilePageRequest, QuarantineRow, StateStore, StoredBackfill } from '../store.ts';
import { scoped } from '../store.ts';
import { claimPosition, writeBackfills, writeChangeset, writeDefinitions } from './postgres-commit.ts';
import { migratePostgres, postgresMigrationStatus } from './postgres-migrate.ts';
import { POSTGRES_DERIVED_TABLES, POSTGRES_MIGRATIONS } from './postgres-schema.ts';
import { countProfiles, pageDocs, scanDocs } from './postgres-profile-reads.ts';
import { PostgresSegmentStore, writeSegmentChanges } from './postgres-segments.ts';
import { redact } from '../../core/redact.ts';

export interface PostgresStoreOptions {
  /** Connection string, e.g. postgres://user@host:5432/portrait. */
  url: string;
  /** Largest number of pooled connections; default 10. */
  poolSize?: number;
  /** Apply pending migrations while opening (default true). */
  migrate?: boolean;
  /** Seals personal attribute values in profile documents, history and conflicts (absent: stored as they are). */
  sealer?: ValueSealer;
}

const INT8_OID = 20;
/** A read-only transaction over one consistent snapshot. */
const SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
/** BIGINT columns (positions, times, serials) hold values below 2^53: read them as numbers, on this pool only. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export class PostgresStore implements StateStore, Migratable, AuditStore, ResealableStore {
  readonly segments: PostgresSegmentStore;
  readonly dataKeys: PostgresDataKeys;
  readonly retention: PostgresRetention;
  readonly privacy: PostgresPrivacyStore;

  private constructor(
    readonly pool: pg.Pool,
    private readonly url: string,
    readonly sealer?: ValueSealer,
  ) {
    this.segments = new PostgresSegmentStore(pool, sealer);
    this.dataKeys = new PostgresDataKeys(pool);
    this.retention = new PostgresRetention(pool);
    this.privacy = new PostgresPrivacyStore(pool, sealer);
  }

  /** Connects, checks the server answers and (unless told not to) applies pending migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, types });
    // An idle client that errors (server restart) must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, opts.url, opts.sealer);
    try {
      await pool.query('SELECT 1');
    } catch (e) {
      await pool.end();
      const err = Errors.serviceUnavailable('PostgreSQL', redact(opts.url), (e as Error).message);
      err.cause = e;
      throw err;
    }
    if (opts.migrate !== false) await store.migrate();
    return store;
  }

  async migrationStatus(): Promise<MigrationStatus> {
    return postgresMigrationStatus(this.pool, POSTGRES_MIGRATIONS);
  }

  async migrate(): Promise<Migration[]> {
    return migratePostgres(this.pool, POSTGRES_MIGRATIONS);
  }

  async position(partition: number): Promise<number> {
    const r = await this.pool.query<{ position: number }>('SELECT position FROM engine_position WHERE partition = $1', [partition]);
    return r.rows[0]?.position ?? 0;
  }

  /** Partitioned workers: every partition's committed position (a partition that never committed has none). */
  async positions(): Promise<Map<number, number>> {
    const r = await this.pool.query<{ partition: number; position: number }>('SELECT partition, position FROM engine_position');
    return new Map(r.rows.map((x) => [x.partition, x.position]));
  }

  async identities(keys: ReadonlyArray<{ workspace: string; ident: string }>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    const r = await this.pool.query<{ workspace: string; ident: string; profile_id: string }>(
      `SELECT i.workspace, i.ident, i.profile_id FROM identities i
         JOIN unnest($1::text[], $2::text[]) AS k(workspace, ident) ON i.workspace = k.workspace AND i.ident = k.ident`,
      [keys.map((k) => k.workspace), keys.map((k) => k.ident)],
    );
    for (const row of r.rows) out.set(scoped(row.workspace, row.ident), row.profile_id);
    return out;
  }

  /** Partitioned workers: a partition's routes of these identifiers (a profile id, or `>N`: owned by partition N). */
  async routes(partition: number, keys: ReadonlyArray<{ workspace: string; ident: string }>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    const r = await this.pool.query<{ workspace: string; ident: string; profile_id: string | null; owner: number }>(
      `SELECT i.workspace, i.ident, i.profile_id, i.owner FROM identity_routes i
         JOIN unnest($2::text[], $3::text[]) AS k(workspace, ident) ON i.partition = $1 AND i.workspace = k.workspace AND i.ident = k.ident`,
      [partition, keys.map((k) => k.workspace), keys.map((k) => k.ident)],
    );
    for (const row of r.rows) out.set(scoped(row.workspace, row.ident), row.profile_id ?? awayTo(row.owner));
    return out;
  }

  /** Partitioned workers: the partition that owns a profile (undefined when none does). */
  async ownerOf(workspace: string, profileId: string): Promise<number | undefined> {
    const r = await this.pool.query<{ partition: number }>('SELECT partition FROM identity_routes WHERE workspace = $1 AND profile_id = $2 LIMIT 1', [workspace, profileId]);
    return r.rows[0]?.partition;
  }

  /** Partitioned workers: the links a partition's unmerges removed. */
  async partitionBlocks(partition: number): Promise<Array<{ workspace: string; a: string; b: string }>> {
    const r = await this.pool.query<{ workspace: string; a: string; b: string }>('SELECT workspace, a, b FROM partition_blocks WHERE partition = $1 ORDER BY workspace, a, b', [partition]);
    return r.rows;
  }

  /** Partitioned workers: the last control record a partition applied, per source partition. */
  async controlApplied(partition: number): Promise<Map<number, { at: number; index: number }>> {
    const r = await this.pool.query<{ source: number; at: number; idx: number }>('SELECT source, at, idx FROM control_applied WHERE partition = $1', [partition]);
    return new Map(r.rows.map((x) => [x.source, { at: x.at, index: x.idx }]));
  }

  /** Partitioned workers: a partition's erased identifiers (keyed hashes). */
  async erasedIdentifiers(partition: number): Promise<ErasedIdentifier[]> {
    const r = await this.pool.query<{ workspace: string; hash: string; position: number; dropped: number }>('SELECT workspace, hash, position, dropped FROM erased_identifiers WHERE partition = $1', [partition]);
    return r.rows.map((x) => ({ workspace: x.workspace, hash: x.hash, position: x.position, dropped: x.dropped }));
  }

  /** Partitioned workers: control records a partition committed and has not published yet, in order. */
  async pendingControl(partition: number, limit: number): Promise<ControlRecord[]> {
    const r = await this.pool.query<{ record: string }>('SELECT record FROM control_outbox WHERE partition = $1 ORDER BY at, idx LIMIT $2', [partition, limit]);
    return r.rows.map((x) => JSON.parse(x.record) as ControlRecord);
  }

  /** Partitioned workers: the last control record a partition made (in its outbox, or published). */
  async lastControl(partition: number): Promise<{ at: number; index: number } | undefined> {
    const r = await this.pool.query<{ at: number; idx: number }>(
      `SELECT at, idx FROM (SELECT at, idx FROM control_outbox WHERE partition = $1 UNION ALL SELECT at, idx FROM control_published WHERE partition = $1) AS x
       ORDER BY at DESC, idx DESC LIMIT 1`,
      [partition],
    );
    const x = r.rows[0];
    return x === undefined ? undefined : { at: x.at, index: x.idx };
  }

  /** Partitioned workers: how many control records wait to be published, over all partitions. */
  async controlWaiting(): Promise<number> {
    const r = await this.pool.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM control_outbox');
    return r.rows[0]?.n ?? 0;
  }

  /** Partitioned workers: records up to (at, index) are in the log: they leave the outbox and are never written again. */
  async controlPublished(partition: number, at: number, index: number): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO control_published (partition, at, idx) VALUES ($1, $2, $3)
         ON CONFLICT (partition) DO UPDATE SET at = excluded.at, idx = excluded.idx WHERE (control_published.at, control_published.idx) < (excluded.at, excluded.idx)`,
        [partition, at, index],
      );
      await c.query('DELETE FROM control_outbox WHERE partition = $1 AND (at, idx) <= ($2, $3)', [partition, at, index]);
    });
  }

  async profiles(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, ProfileDoc>> {
    const out = new Map<string, ProfileDoc>();
    if (keys.length === 0) return out;
    const r = await this.pool.query<{ workspace: string; id: string; doc: string }>(
      `SELECT p.workspace, p.id, p.doc FROM profiles p
         JOIN unnest($1::text[], $2::text[]) AS k(workspace, id) ON p.workspace = k.workspace AND p.id = k.id`,
      [keys.map((k) => k.workspace), keys.map((k) => k.id)],
    );
    for (const row of r.rows) out.set(scoped(row.workspace, row.id), openDoc(this.sealer, JSON.parse(row.doc) as ProfileDoc));
    return out;
  }

  async linksAmong(workspace: string, idents: readonly string[]): Promise<IdentityLink[]> {
    const r = await this.pool.query<Row>(
      'SELECT * FROM identity_links WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[])) ORDER BY position, a, b',
      [workspace, idents],
    );
    return r.rows.map(toLink);
  }

  async blockedLinks(): Promise<Array<{ workspace: string; a: string; b: string }>> {
    const r = await this.pool.query<{ workspace: string; a: string; b: string }>('SELECT workspace, a, b FROM blocked_links ORDER BY workspace, a, b');
    return r.rows;
  }

  async commit(c: Changeset): Promise<void> {
    // Only queries: run again when chosen as a deadlock's victim (partitions writing shared rows at once).
    await withRetriedTransaction(this.pool, async (client) => {
      // The position row first: it locks the partition, so a concurrent writer waits here and then sees the new position.
      await claimPosition(client, c);
      await writeChangeset(client, c, this.sealer);
      if (c.segments !== undefined || c.outbox !== undefined) await writeSegmentChanges(client, c);
    }).catch((e: unknown) => {
      throw wrap(e, 'committing engine state');
    });
  }

  async history(workspace: string, profileId: string, opts: { limit?: number; before?: number } = {}): Promise<HistoryEntry[]> {
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const limit = opts.limit ?? 100;
    // Each row holds one commit's entries; `limit` rows always hold at least `limit` entries.
    const r = await this.pool.query<{ entries: string }>(
      'SELECT entries FROM trait_history WHERE workspace = $1 AND profile_id = $2 AND first_position < $3 ORDER BY last_position DESC, seq DESC LIMIT $4',
      [workspace, profileId, before, limit],
    );
    return pageHistory(workspace, profileId, r.rows, before, limit, this.sealer);
  }

  async merges(workspace: string, profileId: string): Promise<MergeRecord[]> {
    const r = await this.pool.query<Row>('SELECT * FROM merges WHERE workspace = $1 AND (into_id = $2 OR from_id = $2) ORDER BY seq', [workspace, profileId]);
    return r.rows.map(toMerge);
  }

  async identityConflicts(workspace: string): Promise<IdentityConflict[]> {
    const r = await this.pool.query<Row>('SELECT * FROM identity_conflicts WHERE workspace = $1 ORDER BY seq', [workspace]);
    return r.rows.map(toIdentityConflict);
  }

  async attributeConflicts(workspace: string, profileId: string): Promise<AttributeConflict[]> {
    const r = await this.pool.query<Row>('SELECT * FROM attribute_conflicts WHERE workspace = $1 AND profile_id = $2 ORDER BY seq', [workspace, profileId]);
    return r.rows.map((row) => toAttributeConflict(row, this.sealer));
  }

  async profileCount(workspace?: string, segment?: string): Promise<number> {
    if (workspace !== undefined) return countProfiles(this.pool, workspace, segment);
    const r = await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM profiles');
    return r.rows[0]!.n;
  }

  async scanProfiles(workspace: string, _prefilters: readonly AttributePrefilter[], visit: (doc: ProfileDoc) => void, segment?: string): Promise<number> {
    // Prefilters only narrow the scan, and the caller checks every condition again: this store
    // reads all of the workspace's (or segment's) profiles, in pages by id, inside one read-only snapshot.
    return withTransaction(this.pool, (client) => scanDocs(client, workspace, segment, (doc) => visit(openDoc(this.sealer, doc))), SNAPSHOT);
  }

  async profilePage(workspace: string, page: ProfilePageRequest): Promise<{ docs: ProfileDoc[]; total: number }> {
    const out = await withTransaction(this.pool, (client) => pageDocs(client, workspace, page), SNAPSHOT);
    return { docs: out.docs.map((d) => openDoc(this.sealer, d)), total: out.total };
  }

  async definitions(): Promise<DefinitionRow[]> {
    const r = await this.pool.query<Row>('SELECT * FROM definitions ORDER BY name');
    return r.rows.map(toDefinition);
  }

  async saveDefinitions(rows: DefinitionRow[]): Promise<void> {
    if (rows.length === 0) return;
    await writeDefinitions(this.pool, rows);
  }

  /** Partitions' trait backfill progress (all partitions, or one). */
  async partitionBackfills(partition?: number): Promise<StoredBackfill[]> {
    const r = await this.pool.query<{ name: string; partition: number; hash: string; cursor: string; target: string; done: boolean }>(
      `SELECT name, partition, hash, cursor, target, done FROM trait_backfills${partition === undefined ? '' : ' WHERE partition = $1'} ORDER BY name, partition`,
      partition === undefined ? [] : [partition],
    );
    return r.rows.map((x) => ({ name: x.name, partition: x.partition, hash: x.hash, cursor: Number(x.cursor), target: Number(x.target), done: x.done }));
  }

  /**
   * Records the versions a partition starts backfilling (or runs live)
   * before it commits anything with them. A row of the same version already
   * stored (another worker started it first) is kept: the caller reads the
   * progress back.
   */
  async startBackfills(rows: PartitionBackfill[]): Promise<void> {
    if (rows.length === 0) return;
    await this.pool.query(
      `INSERT INTO trait_backfills (name, partition, hash, cursor, target, done)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::boolean[])
       ON CONFLICT (name, partition) DO UPDATE SET hash = excluded.hash, cursor = excluded.cursor, target = excluded.target, done = excluded.done
       WHERE trait_backfills.hash <> excluded.hash`,
      [rows.map((r) => r.name), rows.map((r) => r.partition), rows.map((r) => r.hash), rows.map((r) => r.cursor), rows.map((r) => r.target), rows.map((r) => r.done)],
    );
    // Versions live from the start may complete the set of partitions.
    await writeBackfills(this.pool, rows.filter((r) => r.done));
    // A version made live on an empty deployment that meets a partition which folded events
    // before it noticed the version backfills there: it reads as backfilling until that ends.
    const started = rows.filter((r) => !r.done);
    if (started.length > 0)
      await this.pool.query(
        `UPDATE definitions d SET status = 'backfilling'
         FROM unnest($1::text[], $2::text[]) AS k(name, hash)
         WHERE d.name = k.name AND d.hash = k.hash AND d.status = 'live'
           AND EXISTS (SELECT 1 FROM trait_backfills t WHERE t.name = k.name AND t.hash = k.hash AND NOT t.done)`,
        [started.map((r) => r.name), started.map((r) => r.hash)],
      );
  }

  /** `versions` changes whenever a trait definition is added, changed (a new version) or removed; `status` whenever one goes live or back to backfilling. */
  async definitionsFingerprint(): Promise<{ versions: string; status: string }> {
    const r = await this.pool.query<{ v: string | null; s: string | null }>(
      `SELECT string_agg(name || ':' || hash, ',' ORDER BY name) AS v, string_agg(name || ':' || status, ',' ORDER BY name) AS s FROM definitions`,
    );
    return { versions: r.rows[0]?.v ?? '', status: r.rows[0]?.s ?? '' };
  }

  async deleteDefinition(name: string): Promise<void> {
    await this.pool.query('DELETE FROM definitions WHERE name = $1', [name]);
  }

  async quarantine(row: NewQuarantineRow): Promise<number> {
    const params = [row.workspace, row.receivedAt, row.raw, JSON.stringify(row.reason), row.digest ?? null];
    for (;;) {
      const r = await this.pool.query<{ id: string }>(
        'INSERT INTO quarantine (workspace, received_at, raw, reason, digest) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace, digest) DO NOTHING RETURNING id',
        params,
      );
      if (r.rows.length > 0) return Number(r.rows[0]!.id);
      // Only a row with this digest stops the insert (a null digest never conflicts); unless it was deleted since (an erasure), it is the answer.
      const found = await this.pool.query<{ id: string }>('SELECT id FROM quarantine WHERE workspace = $1 AND digest = $2', [row.workspace, row.digest]);
      if (found.rows.length > 0) return Number(found.rows[0]!.id);
    }
  }

  async quarantined(workspace: string, opts: { status?: QuarantineRow['status']; limit?: number; after?: number } = {}): Promise<QuarantineRow[]> {
    const r = await this.pool.query<Row>('SELECT * FROM quarantine WHERE workspace = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT $4', [
      workspace,
      opts.status ?? 'open',
      opts.after ?? 0,
      opts.limit ?? 100,
    ]);
    return r.rows.map(toQuarantine);
  }

  async quarantinedById(workspace: string, id: number): Promise<QuarantineRow | undefined> {
    const r = await this.pool.query<Row>('SELECT * FROM quarantine WHERE workspace = $1 AND id = $2', [workspace, id]);
    return r.rows[0] ? toQuarantine(r.rows[0]) : undefined;
  }

  async markResubmitted(workspace: string, id: number): Promise<void> {
    await this.pool.query(`UPDATE quarantine SET status = 'resubmitted' WHERE workspace = $1 AND id = $2`, [workspace, id]);
  }

  async saveKey(k: ApiKeyRow): Promise<void> {
    await this.pool.query('INSERT INTO api_keys (id, workspace, secret_hash, scopes, label, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      k.id,
      k.workspace,
      k.secretHash,
      JSON.stringify(k.scopes),
      k.label,
      k.createdAt,
      k.revokedAt,
    ]);
  }

  async key(id: string): Promise<ApiKeyRow | undefined> {
    const r = await this.pool.query<Row>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return r.rows[0] ? toKey(r.rows[0]) : undefined;
  }

  async keys(workspace?: string): Promise<ApiKeyRow[]> {
    const r =
      workspace === undefined
        ? await this.pool.query<Row>('SELECT * FROM api_keys ORDER BY created_at, id')
        : await this.pool.query<Row>('SELECT * FROM api_keys WHERE workspace = $1 ORDER BY created_at, id', [workspace]);
    return r.rows.map(toKey);
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    const r = await this.pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return (r.rowCount ?? 0) > 0;
  }

  async rewriteSealed(rewrite: SealedRewrite, batch: number): Promise<RewriteReport> {
    return rewriteSealedPostgres(this.pool, rewrite, batch);
  }

  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const col = <K extends keyof AuditRecord>(k: K) => records.map((r) => r[k]);
    await this.pool.query(
      `INSERT INTO audit_log (at, workspace, key_id, scope, method, route, status, request_id)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[])`,
      [col('at'), col('workspace'), col('keyId'), col('scope'), col('method'), col('route'), col('status'), col('requestId')],
    );
  }

  async auditRecords(q: AuditQuery): Promise<Array<AuditRecord & { seq: number }>> {
    const w = auditWhere(q, (i) => `$${i}`);
    const r = await this.pool.query<Row>(`SELECT * FROM audit_log WHERE ${w.sql} ORDER BY seq DESC LIMIT $${w.params.length + 1}`, [...w.params, q.limit]);
    return r.rows.map(toAuditRecord);
  }

  /**
   * The same lines as the SQLite dump. Sequence numbers are renumbered 1, 2, 3 …
   * in order: a rolled-back commit leaves gaps in a PostgreSQL sequence, and
   * gaps are not state.
   */
  async dump(): Promise<string[]> {
    // One snapshot for the whole dump.
    return withTransaction(
      this.pool,
      async (client) => {
        const out: string[] = [];
        const q = async (sql: string) => (await client.query<Row>(sql)).rows;
        out.push(`position ${canonicalJson(await q('SELECT * FROM engine_position ORDER BY partition'))}`);
        for (const r of await q('SELECT workspace, id, doc FROM profiles ORDER BY workspace, id'))
          out.push(`profile ${r.workspace} ${r.id} ${canonicalJson(openDoc(this.sealer, JSON.parse(r.doc as string) as ProfileDoc))}`);
        for (const [table, order] of DUMP_TABLES) {
          // identities.position is bookkeeping of partitioned workers (which write wins), not state.
          const rows = await q(`SELECT ${table === 'identities' ? 'workspace, ident, profile_id' : '*'} FROM ${table} ORDER BY ${order}`);
          rows.forEach((r, i) => {
            if ('seq' in r) r.seq = i + 1;
            out.push(`${table} ${canonicalJson(table === 'attribute_conflicts' ? openedConflictRow(r, this.sealer) : r)}`);
          });
        }
        for (const r of await q('SELECT workspace, profile_id, entries FROM trait_history ORDER BY workspace, profile_id, seq')) {
          for (const e of openedEntries(r.workspace as string, r.entries as string, this.sealer)) out.push(`trait_history ${r.workspace} ${r.profile_id} ${canonicalJson(e)}`);
        }
        // Partitioned workers only (absent otherwise): each partition's routes, the control records it applied, the links its unmerges removed and its erased identifiers.
        for (const r of await q('SELECT * FROM identity_routes ORDER BY partition, workspace, ident')) out.push(`identity_routes ${canonicalJson(r)}`);
        for (const r of await q('SELECT * FROM control_applied ORDER BY partition, source')) out.push(`control_applied ${canonicalJson(r)}`);
        for (const r of await q('SELECT * FROM partition_blocks ORDER BY partition, workspace, a, b')) out.push(`partition_blocks ${canonicalJson(r)}`);
        for (const r of await q('SELECT * FROM erased_identifiers ORDER BY partition, workspace, hash')) out.push(`erased_identifiers ${canonicalJson(r)}`);
        return out;
      },
      SNAPSHOT,
    ).catch((e: unknown) => {
      throw wrap(e, 'dumping state');
    });
  }

  async clearDerived(): Promise<void> {
    // RESTART IDENTITY: sequence numbers start again at 1, as they do in SQLite once a table is emptied.
    await this.pool.query(`TRUNCATE ${POSTGRES_DERIVED_TABLES.join(', ')} RESTART IDENTITY`);
  }

  /**
   * A rebuild's start with partitioned workers, in one transaction: clears
   * the derived state, stores the definitions and each partition's trait
   * backfills (done, with their targets). A rebuilder that dies leaves the
   * state as it was or this, never a cleared state without backfill rows: a
   * partition would then leave a forwarded event's traits to its home's
   * backfill, and the home, empty, would start with none to run.
   */
  async clearDerivedFor(definitions: DefinitionRow[], backfills: PartitionBackfill[]): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query(`TRUNCATE ${POSTGRES_DERIVED_TABLES.join(', ')} RESTART IDENTITY`);
      if (definitions.length > 0) await writeDefinitions(client, definitions);
      if (backfills.length > 0) await writeBackfills(client, backfills);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  toString(): string {
    return `PostgresStore(${redact(this.url)})`;
  }
}

function wrap(e: unknown, what: string): Error {
  if (isPortraitError(e)) return e;
  const err = Errors.storage(what);
  err.cause = e;
  return err;
}
