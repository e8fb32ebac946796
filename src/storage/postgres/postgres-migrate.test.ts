import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pg from 'pg';
import { serviceSkip, tempDatabase } from '../../../test/support/services.ts';
import { isPortraitError } from '../../core/errors.ts';
import type { Migration } from '../migrations.ts';
import { migratePostgres, postgresMigrationStatus } from './postgres-migrate.ts';
import { POSTGRES_MIGRATIONS } from './postgres-schema.ts';
import { PostgresStore } from './postgres-store.ts';

/** The first version alone: the tests below add a made-up next version to it. */
const BASE: readonly Migration[] = POSTGRES_MIGRATIONS.slice(0, 1);
const v2: Migration = { version: 2, name: 'profile notes', sql: 'CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL);' };

describe('PostgreSQL schema migrations', { skip: await serviceSkip('PostgreSQL') }, () => {
  it('opens without migrating when told, reports the pending version, then applies it', async () => {
    const db = await tempDatabase();
    try {
      const store = await PostgresStore.open({ url: db.url, migrate: false });
      const before = await store.migrationStatus();
      const all = POSTGRES_MIGRATIONS.map((m) => m.version);
      assert.deepEqual([before.current, before.pending.map((m) => m.version)], [0, all], 'an empty database has every version pending');
      assert.deepEqual((await store.migrate()).map((m) => m.version), all, 'migrate applies them in order');
      assert.equal(await store.position(0), 0, 'the schema is usable');
      assert.deepEqual(await store.migrate(), [], 'a second run applies nothing');
      await store.close();
    } finally {
      await db.drop();
    }
  });

  it('two processes migrating at once apply each version exactly once', async () => {
    const db = await tempDatabase();
    const pools = [new pg.Pool({ connectionString: db.url }), new pg.Pool({ connectionString: db.url })];
    try {
      const all = [...BASE, v2];
      const [a, b] = await Promise.all(pools.map((p) => migratePostgres(p, all)));
      const applied = [...a!, ...b!].map((m) => m.version).sort();
      assert.deepEqual(applied, [1, 2], 'each version was applied by one of the two');
      const status = await postgresMigrationStatus(pools[0]!, all);
      assert.deepEqual([status.current, status.pending.length], [2, 0], 'both recorded');
      await assert.rejects(migratePostgres(pools[0]!, BASE), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_SCHEMA_TOO_NEW', 'older code refuses the newer schema');
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.drop();
    }
  });

  it('rolls a failing migration back whole and says which one failed', async () => {
    const db = await tempDatabase();
    const pool = new pg.Pool({ connectionString: db.url });
    try {
      const bad: Migration = { version: 2, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); CREATE TABLE oops (' };
      await assert.rejects(
        migratePostgres(pool, [...BASE, bad]),
        (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_MIGRATION_FAILED' && e.message.includes('2 (broken)'),
        'a typed error names the migration',
      );
      const half = await pool.query(`SELECT to_regclass('half')::text AS t`);
      assert.equal(half.rows[0].t, null, 'the first statement of the failed migration was rolled back');
      assert.equal((await postgresMigrationStatus(pool, BASE)).current, 1, 'version 1 stays applied');
    } finally {
      await pool.end();
      await db.drop();
    }
  });

  it('reports an unreachable server with a typed error', async () => {
    await assert.rejects(
      PostgresStore.open({ url: 'postgres://postgres:secret@127.0.0.1:1/none' }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_SERVICE_UNAVAILABLE' && !e.message.includes('secret'),
      'PORTRAIT_SERVICE_UNAVAILABLE, without the password',
    );
  });
});
