/** Read-only facts about a log file, for `portrait doctor` (nothing is created or written). */
import type Database from 'better-sqlite3';

/** The position of the last record ever appended; throws a SqliteError when the file is not a Portrait log. */
export function inspectLogDb(db: Database.Database): { head: number } {
  const meta = db.prepare(`SELECT value FROM log_meta WHERE key = 'last_position'`).pluck().get() as number | undefined;
  const max = db.prepare('SELECT MAX(position) FROM log').pluck().get() as number | null;
  return { head: Math.max(meta ?? 0, max ?? 0) };
}
