/** Removing a person from PostgreSQL state: what an erasure deletes, and what other partitions delete when told of it. */
import type pg from 'pg';
import { ERASED_BY_PROFILE } from '../rows.ts';

/**
 * Deletes what state holds on a person: their profiles `P` and identifiers
 * `I` (with every partition's routes of them), and the rows naming either.
 * The erasure's transaction runs it; on a partitioned deployment every other
 * partition runs it again when it reads the erasure's `forget` record, so
 * what it wrote of the person (before a handover, or routes) goes too, at
 * the same point of its log in a rebuild. Returns the rows removed per kind.
 */
export async function deletePerson(c: pg.PoolClient, ws: string, P: readonly string[], I: readonly string[]): Promise<Record<string, number>> {
  const run = async (sql: string, values: unknown[]) => (await c.query(sql, values)).rowCount ?? 0;
  const counts: Record<string, number> = {};
  counts.profiles = await run('DELETE FROM profiles WHERE workspace = $1 AND id = ANY($2::text[])', [ws, P]);
  counts.identities = await run('DELETE FROM identities WHERE workspace = $1 AND (profile_id = ANY($2::text[]) OR ident = ANY($3::text[]))', [ws, P, I]);
  // Bookkeeping of partitioned workers (not counted): routes and the links their unmerges removed.
  await run('DELETE FROM identity_routes WHERE workspace = $1 AND (profile_id = ANY($2::text[]) OR ident = ANY($3::text[]))', [ws, P, I]);
  await run('DELETE FROM partition_blocks WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))', [ws, I]);
  counts.identityLinks = await run('DELETE FROM identity_links WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))', [ws, I]);
  counts.blockedLinks = await run('DELETE FROM blocked_links WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]))', [ws, I]);
  counts.merges = await run('DELETE FROM merges WHERE workspace = $1 AND (into_id = ANY($2::text[]) OR from_id = ANY($2::text[]) OR a = ANY($3::text[]) OR b = ANY($3::text[]))', [ws, P, I]);
  counts.identityConflicts = await run(
    'DELETE FROM identity_conflicts WHERE workspace = $1 AND (a = ANY($2::text[]) OR b = ANY($2::text[]) OR profile_a = ANY($3::text[]) OR profile_b = ANY($3::text[]))',
    [ws, I, P],
  );
  for (const [table, kind] of ERASED_BY_PROFILE) counts[kind] = await run(`DELETE FROM ${table} WHERE workspace = $1 AND profile_id = ANY($2::text[])`, [ws, P]);
  return counts;
}

