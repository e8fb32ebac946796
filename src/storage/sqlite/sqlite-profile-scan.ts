/**
 * Scanning a workspace's profiles on SQLite, narrowed by attribute
 * prefilters turned into `json_extract` conditions on the stored document.
 * A prefilter that cannot be expressed exactly is left out (the caller
 * re-checks every condition), so the scan never drops a matching profile.
 */
import type Database from 'better-sqlite3';
import type { Json } from '../../core/event.ts';
import type { ProfileDoc } from '../../core/profile.ts';
import type { AttributePrefilter } from '../store.ts';

/** Attribute names that are safe to quote as a JSON path label. */
const PLAIN_NAME = /^[\p{L}\p{N}_ $@:.-]+$/u;

const RANGE_SQL = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** A SQL condition and its parameters, or undefined when this prefilter is not expressible. */
function condition(f: AttributePrefilter): { sql: string; params: Array<string | number> } | undefined {
  if (!PLAIN_NAME.test(f.attribute) || f.attribute.includes('"')) return undefined;
  const path = `$.attributes."${f.attribute}".v`;
  // json_type tells a JSON string from a JSON number, which json_extract alone would mix up (true reads as 1).
  const typed = (v: Json): string | undefined => (typeof v === 'string' ? `json_type(doc, ?) = 'text'` : typeof v === 'number' ? `json_type(doc, ?) IN ('integer', 'real')` : undefined);
  switch (f.op) {
    case 'exists':
      return { sql: `json_type(doc, ?) NOT IN ('null')`, params: [path] };
    case 'eq':
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const v = f.value;
      const t = v === undefined ? undefined : typed(v);
      if (t === undefined) return undefined;
      const op = f.op === 'eq' ? '=' : RANGE_SQL[f.op];
      return { sql: `(${t} AND json_extract(doc, ?) ${op} ?)`, params: [path, path, v as string | number] };
    }
    case 'in': {
      const list = f.value;
      if (!Array.isArray(list) || list.length === 0) return undefined;
      const strings = list.filter((v): v is string => typeof v === 'string');
      const numbers = list.filter((v): v is number => typeof v === 'number');
      // Other values (booleans, objects) cannot be matched by SQL here: scan everything.
      if (strings.length + numbers.length !== list.length) return undefined;
      const parts: string[] = [];
      const params: Array<string | number> = [];
      if (strings.length > 0) {
        parts.push(`(json_type(doc, ?) = 'text' AND json_extract(doc, ?) IN (SELECT value FROM json_each(?)))`);
        params.push(path, path, JSON.stringify(strings));
      }
      if (numbers.length > 0) {
        parts.push(`(json_type(doc, ?) IN ('integer', 'real') AND json_extract(doc, ?) IN (SELECT value FROM json_each(?)))`);
        params.push(path, path, JSON.stringify(numbers));
      }
      return { sql: `(${parts.join(' OR ')})`, params };
    }
    default: {
      const never: never = f.op;
      return never;
    }
  }
}

/**
 * The rows a read of profiles covers: a workspace's profiles, or the members
 * of one of its segments joined to their profiles (members first, through the
 * segment's primary key, so the read costs the segment's size). `id` names
 * the profile id column; `doc` stays the document column either way.
 */
export function profileSource(workspace: string, segment: string | undefined): { from: string; where: string[]; params: string[]; id: string } {
  if (segment === undefined) return { from: 'profiles', where: ['workspace = ?'], params: [workspace], id: 'id' };
  return {
    // CROSS JOIN keeps segment_members as the outer loop: SQLite does not reorder it.
    from: 'segment_members m CROSS JOIN profiles p ON p.workspace = m.workspace AND p.id = m.profile_id',
    where: ['m.workspace = ?', 'm.segment = ?'],
    params: [workspace, segment],
    id: 'm.profile_id',
  };
}

/** Rows visited between two yields to the event loop, when the scan has a connection of its own. */
const CHUNK = 1000;

/**
 * Visits every profile of `workspace` (with `segment`: every member of it) that may satisfy
 * `prefilters`; returns how many were visited.
 * With `own: true` the connection serves this scan alone, so the scan yields to the event loop
 * every CHUNK rows (its read transaction keeps one snapshot meanwhile); otherwise it runs in one go,
 * since no other statement may use a connection while a query on it is open.
 */
export async function scanProfiles(
  db: Database.Database,
  workspace: string,
  prefilters: readonly AttributePrefilter[],
  visit: (doc: ProfileDoc) => void,
  own = false,
  segment?: string,
): Promise<number> {
  const source = profileSource(workspace, segment);
  const where = [...source.where];
  const params: Array<string | number> = [...source.params];
  for (const f of prefilters) {
    const c = condition(f);
    if (c === undefined) continue;
    where.push(c.sql);
    params.push(...c.params);
  }
  // One statement reads one snapshot, even while the engine commits on another connection.
  const rows = db.prepare(`SELECT doc FROM ${source.from} WHERE ${where.join(' AND ')}`).pluck().iterate(...params) as IterableIterator<string>;
  let n = 0;
  try {
    for (const doc of rows) {
      visit(JSON.parse(doc) as ProfileDoc);
      if (++n % CHUNK === 0 && own) await new Promise((r) => setImmediate(r));
    }
  } finally {
    rows.return?.();
  }
  return n;
}
