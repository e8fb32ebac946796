/** Applies and reports the PostgreSQL state schema's migrations (src/storage/migrations.ts). */
import type pg from 'pg';
import { Errors } from '../../core/errors.ts';
import { planMigrations, type AppliedMigration, type Migration, type MigrationStatus } from '../migrations.ts';

/** Held for the length of a migration transaction: processes opening one database at once apply each migration once. */
const LOCK_KEY = 'portrait.schema_migrations';

async function applied(db: pg.Pool | pg.PoolClient): Promise<AppliedMigration[]> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (exists.rows[0]?.t == null) return [];
  const r = await db.query<{ version: number; name: string; applied_at: number }>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
  return r.rows.map((x) => ({ version: x.version, name: x.name, appliedAt: x.applied_at }));
}

export async function postgresMigrationStatus(pool: pg.Pool, all: readonly Migration[]): Promise<MigrationStatus> {
  return planMigrations(all, await applied(pool));
}

/** Applies pending migrations, each in one transaction under an advisory lock; returns what it applied. */
export async function migratePostgres(pool: pg.Pool, all: readonly Migration[], now: () => number = Date.now): Promise<Migration[]> {
  const status = await postgresMigrationStatus(pool, all);
  const done: Migration[] = [];
  if (status.pending.length === 0) return done;
  const client = await pool.connect();
  try {
    for (const m of status.pending) {
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        // Another process may have applied it while this one waited for the lock.
        if ((await applied(client)).some((a) => a.version === m.version)) {
          await client.query('COMMIT');
          continue;
        }
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now()]);
        await client.query('COMMIT');
        done.push(m);
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        const err = Errors.migrationFailed(m.version, m.name, (e as Error).message);
        err.cause = e;
        throw err;
      }
    }
  } finally {
    client.release();
  }
  return done;
}
