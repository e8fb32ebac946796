/**
 * Read-only facts about a state file, for `portrait doctor`: it opens the
 * file without creating, migrating or writing anything.
 */
import type Database from 'better-sqlite3';
import { sqliteMigrationStatus } from './sqlite-migrate.ts';
import { SQLITE_MIGRATIONS } from './sqlite-schema.ts';

export interface StateFileFacts {
  /** The version recorded in the file, or null when none is. */
  schemaVersion: number | null;
  /** The version this build of Portrait writes. */
  expectedSchemaVersion: number;
  /** The engine's committed log position. */
  position: number;
  /** Keys of the workspace that are not revoked. */
  activeKeys: number;
}

/** Reads the facts; throws a SqliteError when the file is not a Portrait state file. */
export function inspectStateDb(db: Database.Database, workspace: string): StateFileFacts {
  const applied = sqliteMigrationStatus(db, SQLITE_MIGRATIONS).applied;
  const v = applied.length > 0 ? applied[applied.length - 1]!.version : null;
  const position = (db.prepare('SELECT MAX(position) FROM engine_position').pluck().get() as number | null) ?? 0;
  const activeKeys = db.prepare('SELECT COUNT(*) FROM api_keys WHERE workspace = ? AND revoked_at IS NULL').pluck().get(workspace) as number;
  return { schemaVersion: v, expectedSchemaVersion: SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version, position, activeKeys };
}
