/** Applies and reports the SQLite state schema's migrations (src/storage/migrations.ts). */
import type Database from 'better-sqlite3';
import { Errors } from '../../core/errors.ts';
import { planMigrations, type AppliedMigration, type Migration, type MigrationStatus } from '../migrations.ts';

const TABLE = 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)';

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/** The applied versions: the `schema_migrations` rows, or the version of a file from before that table. */
function applied(db: Database.Database, all: readonly Migration[]): AppliedMigration[] {
  if (hasTable(db, 'schema_migrations')) {
    const rows = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string; applied_at: number }>;
    if (rows.length > 0) return rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }));
  }
  if (!hasTable(db, 'schema_version')) return [];
  const legacy = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  const out: AppliedMigration[] = [];
  for (let v = 1; v <= (legacy.v ?? 0); v++) out.push({ version: v, name: all[v - 1]?.name ?? `version ${v}`, appliedAt: 0 });
  return out;
}

export function sqliteMigrationStatus(db: Database.Database, all: readonly Migration[]): MigrationStatus {
  return planMigrations(all, applied(db, all));
}

/** Applies pending migrations, each in one IMMEDIATE transaction; returns what it applied. */
export function migrateSqlite(db: Database.Database, all: readonly Migration[], now: () => number = Date.now): Migration[] {
  const status = sqliteMigrationStatus(db, all);
  db.exec(TABLE);
  const record = db.prepare('INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  // A pre-migrations file: record its version once, so the table alone tells the story from now on.
  db.transaction(() => {
    for (const a of status.applied) record.run(a.version, a.name, a.appliedAt);
  }).immediate();
  const done: Migration[] = [];
  for (const m of status.pending) {
    try {
      db.transaction(() => {
        // Another process may have applied it meanwhile: the IMMEDIATE lock makes this check exact.
        if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version) !== undefined) return;
        db.exec(m.sql);
        record.run(m.version, m.name, now());
        done.push(m);
      }).immediate();
    } catch (e) {
      const err = Errors.migrationFailed(m.version, m.name, (e as Error).message);
      err.cause = e;
      throw err;
    }
  }
  return done;
}
