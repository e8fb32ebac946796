import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../../../test/support/open.ts';
import { isPortraitError } from '../../core/errors.ts';
import { planMigrations, type Migration } from '../migrations.ts';
import { migrateSqlite, sqliteMigrationStatus } from './sqlite-migrate.ts';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA } from './sqlite-schema.ts';
import { SqliteStore } from './sqlite-store.ts';
import { join } from 'node:path';

/** The first version alone: the tests below add a made-up next version to it. */
const BASE: readonly Migration[] = SQLITE_MIGRATIONS.slice(0, 1);
const v2: Migration = { version: 2, name: 'profile notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);' };

describe('SQLite schema migrations', () => {
  it('reads a file written before migrations were recorded as version 1 and keeps its data', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'state.db');
      const old = new Database(file);
      old.exec(SQLITE_SCHEMA);
      old.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);');
      old.prepare('INSERT INTO engine_position VALUES (0, 42)').run();
      old.prepare('INSERT INTO profiles (workspace, id, doc) VALUES (?, ?, ?)').run('w', 'p', JSON.stringify({ id: 'p', workspace: 'w' }));
      old
        .prepare('INSERT INTO definitions (name, hash, version, definition, status, backfill_cursor, backfill_target, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run('orders', 'h', 1, JSON.stringify({ name: 'orders', kind: 'count' }), 'live', 0, 0, 1);
      assert.deepEqual(sqliteMigrationStatus(old, BASE), { current: 1, applied: [{ version: 1, name: 'initial schema', appliedAt: 0 }], pending: [] }, 'the legacy version counts as applied');
      old.close();
      const store = new SqliteStore({ file });
      assert.equal(await store.position(0), 42, 'the old position is read');
      assert.equal(await store.profileCount(), 1, 'the old profile is read');
      const status = await store.migrationStatus();
      const all = SQLITE_MIGRATIONS.map((m) => m.version);
      assert.deepEqual(status.applied.map((a) => a.version), all, 'version 1 is recorded in schema_migrations, and the later ones applied');
      const rows = store.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows, all.map((version) => ({ version })), 'the table holds the baseline and what followed');
      assert.deepEqual((await store.definitions()).map((d) => [d.name, d.source]), [['orders', 'config']], 'an old definition reads as the configuration file\'s');
      await store.close();
    } finally {
      cleanup();
    }
  });

  it('applies pending migrations in order, once, and reports them', () => {
    const db = new Database(':memory:');
    const first = migrateSqlite(db, BASE, () => 7);
    assert.deepEqual(first.map((m) => m.version), [1], 'an empty database gets version 1');
    assert.deepEqual(sqliteMigrationStatus(db, [...BASE, v2]).pending.map((m) => m.version), [2], 'version 2 is pending');
    assert.deepEqual(migrateSqlite(db, [...BASE, v2], () => 8).map((m) => m.version), [2], 'version 2 is applied');
    assert.deepEqual(migrateSqlite(db, [...BASE, v2]), [], 'nothing left to apply');
    const status = sqliteMigrationStatus(db, [...BASE, v2]);
    assert.deepEqual(status.applied, [{ version: 1, name: 'initial schema', appliedAt: 7 }, { version: 2, name: 'profile notes', appliedAt: 8 }], 'both recorded with their times');
    db.prepare('INSERT INTO notes (text) VALUES (?)').run('x');
    db.close();
  });

  it('rolls a failing migration back whole and says which one failed', () => {
    const db = new Database(':memory:');
    const bad: Migration = { version: 2, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); CREATE TABLE oops (' };
    assert.throws(
      () => migrateSqlite(db, [...BASE, bad]),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_MIGRATION_FAILED' && e.message.includes('2 (broken)'),
      'a typed error names the migration',
    );
    assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'half'`).get(), undefined, 'the first statement of the failed migration was rolled back');
    assert.equal(sqliteMigrationStatus(db, BASE).current, 1, 'version 1 stays applied');
    db.close();
  });

  it('refuses a database newer than the code, and a list out of order', () => {
    const db = new Database(':memory:');
    migrateSqlite(db, [...BASE, v2]);
    assert.throws(() => migrateSqlite(db, BASE), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_SCHEMA_TOO_NEW', 'a newer schema is refused');
    db.close();
    assert.throws(() => planMigrations([v2], []), /out of order/, 'versions must run 1, 2, 3 …');
  });
});
