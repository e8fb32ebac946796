/**
 * Reading profiles on PostgreSQL for search: every profile of a workspace or
 * of one segment's members, in pages by id; one page in id order (keyset on
 * the primary key, then an offset); counts that read no document.
 */
import type pg from 'pg';
import type { ProfileDoc } from '../../core/profile.ts';
import type { ProfilePageRequest } from '../store.ts';

/** Rows fetched per round trip while scanning. */
const SCAN_PAGE = 1000;

/**
 * The rows a read covers: a workspace's profiles, or the members of one of
 * its segments joined to their profiles (through the segment's primary key,
 * so the read costs the segment's size). Parameters are $1 (and $2); `id` is
 * the profile id column, COLLATE "C" either way (code point order).
 */
function source(workspace: string, segment: string | undefined): { from: string; where: string; params: string[]; id: string } {
  if (segment === undefined) return { from: 'profiles p', where: 'p.workspace = $1', params: [workspace], id: 'p.id' };
  return {
    from: 'segment_members m JOIN profiles p ON p.workspace = m.workspace AND p.id = m.profile_id',
    where: 'm.workspace = $1 AND m.segment = $2',
    params: [workspace, segment],
    id: 'm.profile_id',
  };
}

/** Profiles of a workspace, or (with `segment`) those of its profiles that are members of the segment. */
export async function countProfiles(db: pg.Pool | pg.PoolClient, workspace: string, segment?: string): Promise<number> {
  const s = source(workspace, segment);
  const r = await db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${s.from} WHERE ${s.where}`, s.params);
  return Number(r.rows[0]!.n);
}

/** Calls `visit` with every stored document of a workspace or segment, in pages by id; run it inside one snapshot. */
export async function scanDocs(client: pg.PoolClient, workspace: string, segment: string | undefined, visit: (doc: ProfileDoc) => void): Promise<number> {
  const s = source(workspace, segment);
  const n = s.params.length;
  let visited = 0;
  let after = '';
  for (;;) {
    const r = await client.query<{ id: string; doc: string }>(`SELECT ${s.id} AS id, p.doc FROM ${s.from} WHERE ${s.where} AND ${s.id} > $${n + 1} ORDER BY ${s.id} LIMIT $${n + 2}`, [
      ...s.params,
      after,
      SCAN_PAGE,
    ]);
    for (const row of r.rows) {
      visit(JSON.parse(row.doc) as ProfileDoc);
      visited++;
    }
    if (r.rows.length < SCAN_PAGE) return visited;
    after = r.rows[r.rows.length - 1]!.id;
  }
}

/** One page of stored documents in id order, and the total; run it inside one snapshot. */
export async function pageDocs(client: pg.PoolClient, workspace: string, page: ProfilePageRequest): Promise<{ docs: ProfileDoc[]; total: number }> {
  const s = source(workspace, page.segment);
  const params: Array<string | number> = [...s.params];
  let where = s.where;
  if (page.after !== undefined) {
    params.push(page.after);
    where += ` AND ${s.id} ${page.desc ? '<' : '>'} $${params.length}`;
  }
  params.push(page.limit, page.offset);
  const r = await client.query<{ doc: string }>(`SELECT p.doc FROM ${s.from} WHERE ${where} ORDER BY ${s.id}${page.desc ? ' DESC' : ''} LIMIT $${params.length - 1} OFFSET $${params.length}`, params);
  return { docs: r.rows.map((row) => JSON.parse(row.doc) as ProfileDoc), total: await countProfiles(client, workspace, page.segment) };
}
