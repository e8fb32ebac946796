/**
 * A commit on PostgreSQL: the partition position first (with the stale-writer
 * check), then one set-based statement per table, each taking whole columns as
 * arrays (`INSERT … SELECT FROM unnest($1::text[], …)`), inside the caller's
 * transaction.
 */
import type pg from 'pg';
import { Errors } from '../../core/errors.ts';
import { historyRows } from '../rows.ts';
import { sealConflictValue, sealDoc, type ValueSealer } from '../sealer.ts';
import { awayTarget, type ControlRecord } from '../../core/control.ts';
import type { Changeset, DefinitionRow, PartitionBackfill } from '../store.ts';
import type { IdentityConflict } from '../../core/identity.ts';
import { deletePerson, writeErased, writeGroups } from './postgres-person.ts';
import { scoped } from '../store.ts';

/** Keeps the last item per key: one statement may not upsert a row twice. */
export function lastByKey<T>(items: readonly T[], key: (t: T) => string): T[] {
  if (items.length < 2) return [...items];
  const m = new Map<string, T>();
  for (const t of items) {
    const k = key(t);
    m.delete(k);
    m.set(k, t);
  }
  return [...m.values()];
}

/**
 * Sets the partition position; with `expectPosition`, only if the stored one
 * equals it, and with `expectLease`, only while the partition's lease carries
 * that token (else PORTRAIT_STALE_WRITER). The lease row stays share-locked
 * until the commit ends, so a worker taking the partition over waits for a
 * commit in flight and then sees it.
 */
export async function claimPosition(client: pg.PoolClient, c: Pick<Changeset, 'partition' | 'position' | 'expectPosition' | 'expectLease'>): Promise<void> {
  if (c.expectLease !== undefined) {
    const lease = await client.query<{ token: number }>('SELECT token FROM partition_leases WHERE partition = $1 FOR SHARE', [c.partition]);
    const token = lease.rows[0] === undefined ? undefined : Number(lease.rows[0].token);
    if (token !== c.expectLease) throw Errors.staleLease(c.partition, c.expectLease, token);
  }
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

export async function writeChangeset(client: pg.PoolClient, c: Changeset, sealer?: ValueSealer): Promise<void> {
  const q = (sql: string, values: unknown[]) => client.query(sql, values);
  if (c.deletedProfiles.length > 0)
    await q('DELETE FROM profiles p USING unnest($1::text[], $2::text[]) AS d(workspace, id) WHERE p.workspace = d.workspace AND p.id = d.id', [
      c.deletedProfiles.map((d) => d.workspace),
      c.deletedProfiles.map((d) => d.id),
    ]);
  const profiles = lastByKey(c.profiles, (p) => scoped(p.workspace, p.id));
  // A profile records the partition whose engine wrote it last: that engine's segment backfills visit it.
  if (profiles.length > 0)
    await q(
      `INSERT INTO profiles (workspace, id, doc, partition) SELECT w, i, d, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(w, i, d)
       ON CONFLICT (workspace, id) DO UPDATE SET doc = excluded.doc, partition = excluded.partition`,
      [profiles.map((p) => p.workspace), profiles.map((p) => p.id), profiles.map((p) => JSON.stringify(sealDoc(sealer, p))), c.partition],
    );
  const deletedIdentities = c.deletedIdentities ?? [];
  if (deletedIdentities.length > 0)
    await q('DELETE FROM identities i USING unnest($1::text[], $2::text[]) AS d(workspace, ident) WHERE i.workspace = d.workspace AND i.ident = d.ident', [
      deletedIdentities.map((d) => d.workspace),
      deletedIdentities.map((d) => d.ident),
    ]);
  const identities = lastByKey(c.identities, (i) => scoped(i.workspace, i.ident));
  if (c.routes) await writeRoutes(client, c.partition, identities);
  else if (identities.length > 0)
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
  if (blocked.length > 0) {
    const cols = [blocked.map((b) => b.workspace), blocked.map((b) => b.a), blocked.map((b) => b.b)];
    await q('INSERT INTO blocked_links (workspace, a, b) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', cols);
    if (c.routes) await q('INSERT INTO partition_blocks (partition, workspace, a, b) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING', [c.partition, ...cols]);
  }
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
    const x = earliestConflicts(c.identityConflicts);
    // A conflict is kept once per pair and reason. Partitions may each record the same one, and
    // commit in any order: the row from the lowest log position wins, so a rebuild keeps the same.
    await q(
      `INSERT INTO identity_conflicts (workspace, reason, a, b, profile_a, profile_b, position, message_id, time)
       SELECT workspace, reason, a, b, profile_a, profile_b, position, message_id, time
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[])
         WITH ORDINALITY AS t(workspace, reason, a, b, profile_a, profile_b, position, message_id, time, n) ORDER BY n
       ON CONFLICT (workspace, reason, a, b) DO UPDATE SET profile_a = EXCLUDED.profile_a, profile_b = EXCLUDED.profile_b,
         position = EXCLUDED.position, message_id = EXCLUDED.message_id, time = EXCLUDED.time
       WHERE EXCLUDED.position < identity_conflicts.position`,
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
      [x.map((r) => r.workspace), x.map((r) => r.profileId), x.map((r) => r.attribute), x.map((r) => r.reason), x.map((r) => JSON.stringify(sealConflictValue(sealer, r, r.kept))), x.map((r) => JSON.stringify(sealConflictValue(sealer, r, r.rejected))), x.map((r) => r.position), x.map((r) => r.messageId)],
    );
  }
  const history = historyRows(c.history, sealer);
  if (history.length > 0)
    await q(
      `INSERT INTO trait_history (workspace, profile_id, first_position, last_position, entries)
       SELECT workspace, profile_id, first_position, last_position, entries
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
         WITH ORDINALITY AS t(workspace, profile_id, first_position, last_position, entries, n) ORDER BY n`,
      [history.map((h) => h.workspace), history.map((h) => h.profileId), history.map((h) => h.firstPosition), history.map((h) => h.lastPosition), history.map((h) => h.entries)],
    );
  if (c.controlApplied && c.controlApplied.length > 0) {
    const a = c.controlApplied;
    await q(
      `INSERT INTO control_applied (partition, source, at, idx) SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::int[])
       ON CONFLICT (partition, source) DO UPDATE SET at = excluded.at, idx = excluded.idx`,
      [c.partition, a.map((x) => x.source), a.map((x) => x.at), a.map((x) => x.index)],
    );
  }
  if (c.control && c.control.length > 0) await writeControl(client, c.partition, c.control, sealer);
  for (const f of c.forget ?? []) {
    await deletePerson(client, f.workspace, f.profileIds, f.identKeys, { partition: c.partition, upTo: f.upTo });
    if (f.groups !== undefined) await writeGroups(client, f.workspace, f.groups, sealer, c.partition);
  }
  if (c.erased) await writeErased(client, c.partition, c.erased);
  const s = c.suppress;
  if (s !== undefined && s.hashes.length > 0)
    await q('INSERT INTO suppressions (workspace, hash, erasure_id, created_at) SELECT $1, h, $3, $4 FROM unnest($2::text[]) AS t(h) ON CONFLICT DO NOTHING', [s.workspace, s.hashes, s.erasureId, s.createdAt]);
  if (c.definitions && c.definitions.length > 0) await writeDefinitions(client, c.definitions);
  if (c.backfills && c.backfills.length > 0) await writeBackfills(client, c.backfills);
}

/**
 * A partition's identity routes (its own rows), and the shared identity rows
 * of those naming a profile: partitions hand identifiers to each other, so
 * a shared row is kept only when it comes from a later log position than
 * the stored one (positions are stream sequences: a handover always lands
 * after what its sender did), which a rebuild reaches in any interleaving.
 */
async function writeRoutes(client: pg.PoolClient, partition: number, rows: ReadonlyArray<Changeset['identities'][number]>): Promise<void> {
  if (rows.length === 0) return;
  const routes = rows.map((i) => ({ ...i, owner: awayTarget(i.profileId) }));
  await client.query(
    `INSERT INTO identity_routes (partition, workspace, ident, profile_id, owner)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[])
     ON CONFLICT (partition, workspace, ident) DO UPDATE SET profile_id = excluded.profile_id, owner = excluded.owner`,
    [partition, routes.map((r) => r.workspace), routes.map((r) => r.ident), routes.map((r) => (r.owner === undefined ? r.profileId : null)), routes.map((r) => r.owner ?? partition)],
  );
  const local = routes.filter((r) => r.owner === undefined);
  if (local.length > 0)
    await client.query(
      `INSERT INTO identities (workspace, ident, profile_id, position) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (workspace, ident) DO UPDATE SET profile_id = excluded.profile_id, position = excluded.position
       WHERE identities.position <= excluded.position`,
      [local.map((r) => r.workspace), local.map((r) => r.ident), local.map((r) => r.profileId), local.map((r) => r.position ?? 0)],
    );
}

/**
 * Control records into the outbox, sealed like stored documents. A record
 * the partition has published already (a rebuild makes it again) is not
 * written: it is in the log.
 */
export async function writeControl(client: pg.PoolClient, partition: number, records: readonly ControlRecord[], sealer?: ValueSealer): Promise<void> {
  const sealed = records.map((r) => (r.body.kind === 'handover' ? { ...r, body: { ...r.body, doc: sealDoc(sealer, r.body.doc) } } : r));
  await client.query(
    `INSERT INTO control_outbox (partition, at, idx, record)
     SELECT $1, t.at, t.idx, t.record FROM unnest($2::bigint[], $3::int[], $4::text[]) AS t(at, idx, record)
     WHERE NOT EXISTS (SELECT 1 FROM control_published p WHERE p.partition = $1 AND (p.at, p.idx) >= (t.at, t.idx))
     ON CONFLICT DO NOTHING`,
    [partition, sealed.map((r) => r.at), sealed.map((r) => r.index), sealed.map((r) => JSON.stringify(r))],
  );
}

/**
 * Records partitions' trait backfill progress; a definition whose version
 * every partition has finished becomes live (its row in `definitions`).
 */
export async function writeBackfills(db: pg.Pool | pg.PoolClient, rows: readonly PartitionBackfill[]): Promise<void> {
  const b = lastByKey(rows, (r) => `${r.name}\u0000${r.partition}`);
  for (const r of b) {
    if (r.from === undefined) continue;
    const held = await db.query<{ cursor: string }>('SELECT cursor FROM trait_backfills WHERE name = $1 AND partition = $2 AND hash = $3 FOR UPDATE', [r.name, r.partition, r.hash]);
    const stored = held.rows[0] === undefined ? undefined : Number(held.rows[0].cursor);
    if (stored !== r.from) throw Errors.staleBackfill(r.partition, r.name, r.from, stored);
  }
  await db.query(
    `INSERT INTO trait_backfills (name, partition, hash, cursor, target, done)
     SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::boolean[])
     ON CONFLICT (name, partition) DO UPDATE SET hash = excluded.hash, cursor = excluded.cursor, target = excluded.target, done = excluded.done`,
    [b.map((r) => r.name), b.map((r) => r.partition), b.map((r) => r.hash), b.map((r) => r.cursor), b.map((r) => r.target), b.map((r) => r.done)],
  );
  for (const r of b) {
    if (!r.done) continue;
    // Partitions finishing at once in two transactions: the row lock orders them, so the later
    // one's count (a new statement) sees the earlier one's row.
    await db.query('SELECT 1 FROM definitions WHERE name = $1 AND hash = $2 FOR UPDATE', [r.name, r.hash]);
    await db.query(
      `UPDATE definitions SET status = 'live', backfill_cursor = backfill_target
       WHERE name = $1 AND hash = $2 AND status <> 'live'
         AND (SELECT count(*) FROM trait_backfills t WHERE t.name = $1 AND t.hash = $2 AND t.done AND t.partition < $3) >= $3`,
      [r.name, r.hash, r.partitions],
    );
  }
}

export async function writeDefinitions(db: pg.Pool | pg.PoolClient, rows: readonly DefinitionRow[]): Promise<void> {
  const d = lastByKey(rows, (r) => r.name);
  await db.query(
    `INSERT INTO definitions (name, hash, version, definition, status, backfill_cursor, backfill_target, updated_at, source)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
     ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version, definition = excluded.definition, status = excluded.status,
       backfill_cursor = excluded.backfill_cursor, backfill_target = excluded.backfill_target, updated_at = excluded.updated_at, source = excluded.source`,
    [
      d.map((r) => r.name),
      d.map((r) => r.hash),
      d.map((r) => r.version),
      d.map((r) => JSON.stringify(r.definition)),
      d.map((r) => r.status),
      d.map((r) => r.backfillCursor),
      d.map((r) => r.backfillTarget),
      d.map((r) => r.updatedAt),
      d.map((r) => r.source),
    ],
  );
}

/** One conflict per (workspace, reason, pair), the one at the lowest position, in the changeset's order (one statement may not update a row twice). */
function earliestConflicts(rows: readonly IdentityConflict[]): IdentityConflict[] {
  const kept = new Map<string, IdentityConflict>();
  for (const r of rows) {
    const k = JSON.stringify([r.workspace, r.reason, r.a, r.b]);
    const seen = kept.get(k);
    if (seen === undefined || r.position < seen.position) kept.set(k, r);
  }
  return rows.filter((r) => kept.get(JSON.stringify([r.workspace, r.reason, r.a, r.b])) === r);
}
