/**
 * The state store on PostgreSQL (driver `pg`), for scale-out deployments:
 * the same tables and meaning as the SQLite store. Every statement is
 * parameterised; a commit is one transaction of set-based statements (one
 * INSERT … SELECT FROM unnest(arrays) per table), so its cost grows with rows,
 * not round trips.
 */
import pg from 'pg';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../../core/identity.ts';
import { canonicalJson, type ProfileDoc } from '../../core/profile.ts';
import { Errors, isPortraitError } from '../../core/errors.ts';
import type { Migratable, Migration, MigrationStatus } from '../migrations.ts';
import { DERIVED_TABLES, DUMP_TABLES, historyRows, pageHistory, toAttributeConflict, toDefinition, toIdentityConflict, toKey, toLink, toMerge, toQuarantine, type Row } from '../rows.ts';
import type { ApiKeyRow, AttributeConflict, Changeset, DefinitionRow, HistoryEntry, QuarantineRow, StateStore } from '../store.ts';
import { scoped } from '../store.ts';
import { migratePostgres, postgresMigrationStatus } from './postgres-migrate.ts';
import { POSTGRES_MIGRATIONS } from './postgres-schema.ts';

export interface PostgresStoreOptions {
  /** Connection string, e.g. postgres://user@host:5432/portrait. */
  url: string;
  /** Largest number of pooled connections; default 10. */
  poolSize?: number;
  /** Apply pending migrations while opening (default true). */
  migrate?: boolean;
}

const INT8_OID = 20;
/** BIGINT columns (positions, times, serials) hold values below 2^53: read them as numbers, on this pool only. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Keeps the last item per key: one statement may not upsert a row twice. */
function lastByKey<T>(items: readonly T[], key: (t: T) => string): T[] {
  if (items.length < 2) return [...items];
  const m = new Map<string, T>();
  for (const t of items) {
    const k = key(t);
    m.delete(k);
    m.set(k, t);
  }
  return [...m.values()];
}

export class PostgresStore implements StateStore, Migratable {
  private constructor(
    readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  /** Connects, checks the server answers and (unless told not to) applies pending migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, types });
    // An idle client that errors (server restart) must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, opts.url);
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

  async profiles(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, ProfileDoc>> {
    const out = new Map<string, ProfileDoc>();
    if (keys.length === 0) return out;
    const r = await this.pool.query<{ workspace: string; id: string; doc: string }>(
      `SELECT p.workspace, p.id, p.doc FROM profiles p
         JOIN unnest($1::text[], $2::text[]) AS k(workspace, id) ON p.workspace = k.workspace AND p.id = k.id`,
      [keys.map((k) => k.workspace), keys.map((k) => k.id)],
    );
    for (const row of r.rows) out.set(scoped(row.workspace, row.id), JSON.parse(row.doc) as ProfileDoc);
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
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // The position row first: it locks the partition, so a concurrent writer waits here and then sees the new position.
      await claimPosition(client, c);
      await writeChangeset(client, c);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw wrap(e, 'committing engine state');
    } finally {
      client.release();
    }
  }

  async history(workspace: string, profileId: string, opts: { limit?: number; before?: number } = {}): Promise<HistoryEntry[]> {
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const limit = opts.limit ?? 100;
    // Each row holds one commit's entries; `limit` rows always hold at least `limit` entries.
    const r = await this.pool.query<{ entries: string }>(
      'SELECT entries FROM trait_history WHERE workspace = $1 AND profile_id = $2 AND first_position < $3 ORDER BY last_position DESC, seq DESC LIMIT $4',
      [workspace, profileId, before, limit],
    );
    return pageHistory(workspace, profileId, r.rows, before, limit);
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
    return r.rows.map(toAttributeConflict);
  }

  async profileCount(workspace?: string): Promise<number> {
    const r =
      workspace === undefined
        ? await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM profiles')
        : await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM profiles WHERE workspace = $1', [workspace]);
    return r.rows[0]!.n;
  }

  async definitions(): Promise<DefinitionRow[]> {
    const r = await this.pool.query<Row>('SELECT * FROM definitions ORDER BY name');
    return r.rows.map(toDefinition);
  }

  async saveDefinitions(rows: DefinitionRow[]): Promise<void> {
    if (rows.length === 0) return;
    await writeDefinitions(this.pool, rows);
  }

  async deleteDefinition(name: string): Promise<void> {
    await this.pool.query('DELETE FROM definitions WHERE name = $1', [name]);
  }

  async quarantine(row: Omit<QuarantineRow, 'id' | 'status'>): Promise<number> {
    const r = await this.pool.query<{ id: number }>('INSERT INTO quarantine (workspace, received_at, raw, reason) VALUES ($1, $2, $3, $4) RETURNING id', [
      row.workspace,
      row.receivedAt,
      row.raw,
      JSON.stringify(row.reason),
    ]);
    return r.rows[0]!.id;
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

  /**
   * The same lines as the SQLite dump. Sequence numbers are renumbered 1, 2, 3 …
   * in order: a rolled-back commit leaves gaps in a PostgreSQL sequence, and
   * gaps are not state.
   */
  async dump(): Promise<string[]> {
    const client = await this.pool.connect();
    try {
      // One snapshot for the whole dump.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out: string[] = [];
      const q = async (sql: string) => (await client.query<Row>(sql)).rows;
      out.push(`position ${canonicalJson(await q('SELECT * FROM engine_position ORDER BY partition'))}`);
      for (const r of await q('SELECT workspace, id, doc FROM profiles ORDER BY workspace, id'))
        out.push(`profile ${r.workspace} ${r.id} ${canonicalJson(JSON.parse(r.doc as string))}`);
      for (const [table, order] of DUMP_TABLES) {
        const rows = await q(`SELECT * FROM ${table} ORDER BY ${order}`);
        rows.forEach((r, i) => {
          if ('seq' in r) r.seq = i + 1;
          out.push(`${table} ${canonicalJson(r)}`);
        });
      }
      for (const r of await q('SELECT workspace, profile_id, entries FROM trait_history ORDER BY workspace, profile_id, seq')) {
        for (const e of JSON.parse(r.entries as string) as unknown[]) out.push(`trait_history ${r.workspace} ${r.profile_id} ${canonicalJson(e)}`);
      }
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw wrap(e, 'dumping state');
    } finally {
      client.release();
    }
  }

  async clearDerived(): Promise<void> {
    // RESTART IDENTITY: sequence numbers start again at 1, as they do in SQLite once a table is emptied.
    await this.pool.query(`TRUNCATE ${DERIVED_TABLES.join(', ')} RESTART IDENTITY`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  toString(): string {
    return `PostgresStore(${redact(this.url)})`;
  }
}

/** Sets the partition position; with `expectPosition`, only if the stored one equals it (else PORTRAIT_STALE_WRITER). */
async function claimPosition(client: pg.PoolClient, c: Changeset): Promise<void> {
  if (c.expectPosition === undefined) {
    await client.query('INSERT INTO engine_position (partition, position) VALUES ($1, $2) ON CONFLICT (partition) DO UPDATE SET position = excluded.position', [
      c.partition,
      c.position,
    ]);
    return;
  }
  // Expecting 0 also covers "no row yet": the insert, or an update of a row still at 0.
  const r =
    c.expectPosition === 0
      ? await client.query(
          'INSERT INTO engine_position (partition, position) VALUES ($1, $2) ON CONFLICT (partition) DO UPDATE SET position = excluded.position WHERE engine_position.position = 0',
          [c.partition, c.position],
        )
      : await client.query('UPDATE engine_position SET position = $2 WHERE partition = $1 AND position = $3', [c.partition, c.position, c.expectPosition]);
  if (r.rowCount === 1) return;
  const now = await client.query<{ position: number }>('SELECT position FROM engine_position WHERE partition = $1', [c.partition]);
  throw Errors.staleWriter(c.partition, c.expectPosition, now.rows[0]?.position ?? 0);
}

async function writeChangeset(client: pg.PoolClient, c: Changeset): Promise<void> {
  const q = (sql: string, values: unknown[]) => client.query(sql, values);
  if (c.deletedProfiles.length > 0)
    await q('DELETE FROM profiles p USING unnest($1::text[], $2::text[]) AS d(workspace, id) WHERE p.workspace = d.workspace AND p.id = d.id', [
      c.deletedProfiles.map((d) => d.workspace),
      c.deletedProfiles.map((d) => d.id),
    ]);
  const profiles = lastByKey(c.profiles, (p) => scoped(p.workspace, p.id));
  if (profiles.length > 0)
    await q(
      `INSERT INTO profiles (workspace, id, doc) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (workspace, id) DO UPDATE SET doc = excluded.doc`,
      [profiles.map((p) => p.workspace), profiles.map((p) => p.id), profiles.map((p) => JSON.stringify(p))],
    );
  const deletedIdentities = c.deletedIdentities ?? [];
  if (deletedIdentities.length > 0)
    await q('DELETE FROM identities i USING unnest($1::text[], $2::text[]) AS d(workspace, ident) WHERE i.workspace = d.workspace AND i.ident = d.ident', [
      deletedIdentities.map((d) => d.workspace),
      deletedIdentities.map((d) => d.ident),
    ]);
  const identities = lastByKey(c.identities, (i) => scoped(i.workspace, i.ident));
  if (identities.length > 0)
    await q(
      `INSERT INTO identities (workspace, ident, profile_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (workspace, ident) DO UPDATE SET profile_id = excluded.profile_id`,
      [identities.map((i) => i.workspace), identities.map((i) => i.ident), identities.map((i) => i.profileId)],
    );
  const deletedLinks = c.deletedLinks ?? [];
  if (deletedLinks.length > 0)
    await q(
      `DELETE FROM identity_links l USING unnest($1::text[], $2::text[], $3::text[]) AS d(workspace, a, b)
       WHERE l.workspace = d.workspace AND ((l.a = d.a AND l.b = d.b) OR (l.a = d.b AND l.b = d.a))`,
      [deletedLinks.map((d) => d.workspace), deletedLinks.map((d) => d.a), deletedLinks.map((d) => d.b)],
    );
  const links = lastByKey(c.links, (l) => `${scoped(l.workspace, l.a)}\u0000${l.b}`);
  if (links.length > 0)
    await q(
      `INSERT INTO identity_links (workspace, a, b, via, position, message_id, time)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
       ON CONFLICT (workspace, a, b) DO UPDATE SET via = excluded.via, position = excluded.position, message_id = excluded.message_id, time = excluded.time`,
      [links.map((l) => l.workspace), links.map((l) => l.a), links.map((l) => l.b), links.map((l) => l.via), links.map((l) => l.position), links.map((l) => l.messageId), links.map((l) => l.time)],
    );
  const blocked = c.blockedLinks ?? [];
  if (blocked.length > 0)
    await q('INSERT INTO blocked_links (workspace, a, b) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', [
      blocked.map((b) => b.workspace),
      blocked.map((b) => b.a),
      blocked.map((b) => b.b),
    ]);
  // WITH ORDINALITY … ORDER BY keeps the changeset's order in the serial `seq`.
  if (c.merges.length > 0) {
    const m = c.merges;
    await q(
      `INSERT INTO merges (kind, workspace, into_id, from_id, a, b, position, message_id, time)
       SELECT kind, workspace, into_id, from_id, a, b, position, message_id, time
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[])
         WITH ORDINALITY AS t(kind, workspace, into_id, from_id, a, b, position, message_id, time, n) ORDER BY n`,
      [m.map((x) => x.kind), m.map((x) => x.workspace), m.map((x) => x.into), m.map((x) => x.from), m.map((x) => x.a), m.map((x) => x.b), m.map((x) => x.position), m.map((x) => x.messageId), m.map((x) => x.time)],
    );
  }
  if (c.identityConflicts.length > 0) {
    const x = c.identityConflicts;
    await q(
      `INSERT INTO identity_conflicts (workspace, reason, a, b, profile_a, profile_b, position, message_id, time)
       SELECT workspace, reason, a, b, profile_a, profile_b, position, message_id, time
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[])
         WITH ORDINALITY AS t(workspace, reason, a, b, profile_a, profile_b, position, message_id, time, n) ORDER BY n
       ON CONFLICT DO NOTHING`,
      [x.map((r) => r.workspace), x.map((r) => r.reason), x.map((r) => r.a), x.map((r) => r.b), x.map((r) => r.profileA), x.map((r) => r.profileB), x.map((r) => r.position), x.map((r) => r.messageId), x.map((r) => r.time)],
    );
  }
  if (c.attributeConflicts.length > 0) {
    const x = c.attributeConflicts;
    await q(
      `INSERT INTO attribute_conflicts (workspace, profile_id, attribute, reason, kept, rejected, position, message_id)
       SELECT workspace, profile_id, attribute, reason, kept, rejected, position, message_id
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
         WITH ORDINALITY AS t(workspace, profile_id, attribute, reason, kept, rejected, position, message_id, n) ORDER BY n`,
      [x.map((r) => r.workspace), x.map((r) => r.profileId), x.map((r) => r.attribute), x.map((r) => r.reason), x.map((r) => JSON.stringify(r.kept)), x.map((r) => JSON.stringify(r.rejected)), x.map((r) => r.position), x.map((r) => r.messageId)],
    );
  }
  const history = historyRows(c.history);
  if (history.length > 0)
    await q(
      `INSERT INTO trait_history (workspace, profile_id, first_position, last_position, entries)
       SELECT workspace, profile_id, first_position, last_position, entries
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
         WITH ORDINALITY AS t(workspace, profile_id, first_position, last_position, entries, n) ORDER BY n`,
      [history.map((h) => h.workspace), history.map((h) => h.profileId), history.map((h) => h.firstPosition), history.map((h) => h.lastPosition), history.map((h) => h.entries)],
    );
  if (c.definitions && c.definitions.length > 0) await writeDefinitions(client, c.definitions);
}

async function writeDefinitions(db: pg.Pool | pg.PoolClient, rows: readonly DefinitionRow[]): Promise<void> {
  const d = lastByKey(rows, (r) => r.name);
  await db.query(
    `INSERT INTO definitions (name, hash, version, definition, status, backfill_cursor, backfill_target, updated_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
     ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version, definition = excluded.definition, status = excluded.status,
       backfill_cursor = excluded.backfill_cursor, backfill_target = excluded.backfill_target, updated_at = excluded.updated_at`,
    [d.map((r) => r.name), d.map((r) => r.hash), d.map((r) => r.version), d.map((r) => JSON.stringify(r.definition)), d.map((r) => r.status), d.map((r) => r.backfillCursor), d.map((r) => r.backfillTarget), d.map((r) => r.updatedAt)],
  );
}

function wrap(e: unknown, what: string): Error {
  if (isPortraitError(e)) return e;
  const err = Errors.storage(what);
  err.cause = e;
  return err;
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
