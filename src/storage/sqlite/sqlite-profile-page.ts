/**
 * Reading one page of profiles on SQLite in id order (keyset on the primary
 * key, then an offset), and counting profiles without reading a document:
 * what a search needs when its conditions are decided by where it reads.
 */
import type Database from 'better-sqlite3';
import type { ProfileDoc } from '../../core/profile.ts';
import type { ProfilePageRequest } from '../store.ts';
import { profileSource } from './sqlite-profile-scan.ts';

/** Profiles of a workspace, or (with `segment`) those of its profiles that are members of the segment. */
export function countProfiles(db: Database.Database, workspace: string, segment?: string): number {
  const source = profileSource(workspace, segment);
  return db.prepare(`SELECT COUNT(*) FROM ${source.from} WHERE ${source.where.join(' AND ')}`).pluck().get(...source.params) as number;
}

/**
 * One page in id order (BINARY collation: the order of UTF-8 bytes, that is
 * of code points) and the total, in one read transaction so both see one snapshot.
 * Returns the stored documents as they are (sealed values still sealed).
 */
export function profilePage(db: Database.Database, workspace: string, page: ProfilePageRequest): { docs: ProfileDoc[]; total: number } {
  const source = profileSource(workspace, page.segment);
  const where = [...source.where];
  const params: Array<string | number> = [...source.params];
  if (page.after !== undefined) {
    where.push(`${source.id} ${page.desc ? '<' : '>'} ?`);
    params.push(page.after);
  }
  const sql = `SELECT doc FROM ${source.from} WHERE ${where.join(' AND ')} ORDER BY ${source.id}${page.desc ? ' DESC' : ''} LIMIT ? OFFSET ?`;
  return db.transaction(() => {
    const rows = db.prepare(sql).pluck().all(...params, page.limit, page.offset) as string[];
    return { docs: rows.map((r) => JSON.parse(r) as ProfileDoc), total: countProfiles(db, workspace, page.segment) };
  })();
}
