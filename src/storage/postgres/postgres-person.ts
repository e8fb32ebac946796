/** Removing a person from PostgreSQL state: what an erasure deletes, and what other partitions delete when told of it. */
import type pg from 'pg';
import { ERASED_BY_PROFILE, historyRows } from '../rows.ts';
import { sealDoc, type ValueSealer } from '../sealer.ts';
import type { ErasedIdentifier, ErasurePlan } from '../store.ts';

/**
 * Deletes what state holds on a person: their profiles `P` and identifiers
 * `I`, and the rows naming either. The erasure's transaction runs it; on a
 * partitioned deployment (`partitioned`) every other partition runs it again
 * when it reads the erasure's `forget` record, so what it wrote of the person
 * (before a handover, or routes) goes too, at the same point of its log in a
 * rebuild. There each partition deletes its own profiles and its own routes of
 * the identifiers only (and every route naming a deleted profile), and the shared
 * rows only from log positions up to the erasure's (`upTo`): a row from a
 * later position is a new event's (an identifier used again after an erasure
 * that did not suppress it), and partitions meet the erasure at different
 * times, so which rows go must not depend on when. Returns the rows removed
 * per kind.
 */
export async function deletePerson(
  c: pg.PoolClient,
  ws: string,
  P: readonly string[],
  I: readonly string[],
  partitioned?: { partition: number; upTo: number },
): Promise<Record<string, number>> {
  const run = async (sql: string, values: unknown[]) => (await c.query(sql, values)).rowCount ?? 0;
  // Partitioned: this partition's own rows, and shared rows from up to the erasure's position.
  const own = partitioned === undefined ? '' : ` AND partition = ${Number(partitioned.partition)}`;
  const upTo = partitioned === undefined ? '' : ` AND position <= ${Number(partitioned.upTo)}`;
  const counts: Record<string, number> = {};
  // A profile is deleted by the partition that owns it (in a rebuild, another partition may meet its `forget` first).
  counts.profiles = await run(`DELETE FROM profiles WHERE workspace = $1 AND id = ANY($2::text[])${own}`, [ws, P]);
  counts.identities = await run(`DELETE FROM identities WHERE workspace = $1 AND (profile_id = ANY($2::text[]) OR ident = ANY($3::text[]))${upTo}`, [ws, P, I]);
  // Bookkeeping of partitioned workers (not counted): routes and the links their unmerges removed.
  // Routes naming a deleted profile go wherever they are (they would name nothing); routes of the identifiers, here only.
  await run(`DELETE FROM identity_routes WHERE workspace = $1 AND (profile_id = ANY($2::text[]) OR (ident = ANY($3::text[])${own}))`, [ws, P, I]);
  await run(`DELETE FROM partition_blocks WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))${own}`, [ws, I]);
  counts.identityLinks = await run(`DELETE FROM identity_links WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))${upTo}`, [ws, I]);
  counts.blockedLinks = await run('DELETE FROM blocked_links WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))', [ws, I]);
  counts.merges = await run(`DELETE FROM merges WHERE workspace = $1 AND (into_id = ANY($2::text[]) OR from_id = ANY($2::text[]) OR a = ANY($3::text[]) OR b = ANY($3::text[]))${upTo}`, [ws, P, I]);
  counts.identityConflicts = await run(
    `DELETE FROM identity_conflicts WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]) OR profile_a = ANY($3::text[]) OR profile_b = ANY($3::text[]))${upTo}`,
    [ws, I, P],
  );
  for (const [table, kind] of ERASED_BY_PROFILE) counts[kind] = await run(`DELETE FROM ${table} WHERE workspace = $1 AND profile_id = ANY($2::text[])`, [ws, P]);
  return counts;
}

/**
 * Group profiles recomputed after an erasure (ErasurePlan.groups): each one's
 * new document and history, or, when no event is left, the profile and its
 * identity row go (partitioned, `partition`: the route there too). Returns
 * how many were recomputed and removed.
 */
export async function writeGroups(
  c: pg.PoolClient,
  ws: string,
  groups: ErasurePlan['groups'],
  sealer: ValueSealer | undefined,
  partition?: number,
): Promise<{ groupsRecomputed: number; groupsRemoved: number }> {
  const counts = { groupsRecomputed: 0, groupsRemoved: 0 };
  for (const g of groups) {
    await c.query('DELETE FROM trait_history WHERE workspace = $1 AND profile_id = $2', [ws, g.id]);
    if (g.doc === null) {
      await c.query('DELETE FROM profiles WHERE workspace = $1 AND id = $2', [ws, g.id]);
      await c.query('DELETE FROM identities WHERE workspace = $1 AND ident = $2', [ws, g.ident]);
      if (partition !== undefined) await c.query('DELETE FROM identity_routes WHERE partition = $1 AND workspace = $2 AND ident = $3', [partition, ws, g.ident]);
      counts.groupsRemoved++;
      continue;
    }
    await c.query('UPDATE profiles SET doc = $3 WHERE workspace = $1 AND id = $2', [ws, g.id, JSON.stringify(sealDoc(sealer, g.doc))]);
    for (const h of historyRows(g.history, sealer))
      await c.query('INSERT INTO trait_history (workspace, profile_id, first_position, last_position, entries) VALUES ($1, $2, $3, $4, $5)', [h.workspace, h.profileId, h.firstPosition, h.lastPosition, h.entries]);
    counts.groupsRecomputed++;
  }
  return counts;
}

/**
 * A partition's erased identifiers (keyed hashes): the latest erasure of
 * each, and the records it dropped since (see ErasedIdentifier).
 */
export async function writeErased(c: pg.PoolClient, partition: number, rows: readonly ErasedIdentifier[]): Promise<void> {
  if (rows.length === 0) return;
  const last = new Map(rows.map((r) => [`${r.workspace}\u0000${r.hash}`, r]));
  const x = [...last.values()];
  await c.query(
    `INSERT INTO erased_identifiers (partition, workspace, hash, position, dropped) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::int[])
     ON CONFLICT (partition, workspace, hash) DO UPDATE SET position = excluded.position, dropped = excluded.dropped`,
    [partition, x.map((r) => r.workspace), x.map((r) => r.hash), x.map((r) => r.position), x.map((r) => r.dropped)],
  );
}
