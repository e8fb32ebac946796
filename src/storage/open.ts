/** Chooses the state backend from the configuration: PostgreSQL when a database URL is set, else SQLite in the data directory. */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { planMigrations, type Migration, type MigrationStatus } from './migrations.ts';
import { redact } from '../core/redact.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { migrateSqlite, sqliteMigrationStatus } from './sqlite/sqlite-migrate.ts';
import { SQLITE_MIGRATIONS } from './sqlite/sqlite-schema.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { StateStore } from './store.ts';
import type { ResealableStore, ValueSealer } from './sealer.ts';
import type { AuditStore } from './audit.ts';

export interface StoreTarget {
  dataDir: string;
  databaseUrl?: string;
}

export type OpenedStore = StateStore & AuditStore & ResealableStore & { migrationStatus(): Promise<MigrationStatus> };

/**
 * Opens the configured store, applying pending migrations. `writerThread`: on
 * SQLite files, request-time writes go through a thread of their own (see
 * SqliteStoreOptions.writerThread).
 */
export async function openStateStore(target: StoreTarget, opts: { memory?: boolean; sealer?: ValueSealer; writerThread?: boolean } = {}): Promise<OpenedStore> {
  if (target.databaseUrl) return PostgresStore.open({ url: target.databaseUrl, sealer: opts.sealer });
  if (opts.memory) return new SqliteStore({ file: ':memory:', sealer: opts.sealer });
  return new SqliteStore({ file: join(target.dataDir, 'state.db'), sealer: opts.sealer, writerThread: opts.writerThread });
}

export interface MigrationReport {
  backend: 'sqlite' | 'postgres';
  /** The file or the (password-free) connection string. */
  location: string;
  /** The state before this run. */
  before: MigrationStatus;
  /** What this run applied (empty for a status check or an up-to-date database). */
  applied: Migration[];
}

/** What `portrait migrate` does: reports the schema state and, when `apply`, applies the pending migrations. */
export async function migrateStorage(target: StoreTarget, apply: boolean): Promise<MigrationReport> {
  if (target.databaseUrl) {
    const store = await PostgresStore.open({ url: target.databaseUrl, migrate: false });
    try {
      const before = await store.migrationStatus();
      return { backend: 'postgres', location: redact(target.databaseUrl), before, applied: apply ? await store.migrate() : [] };
    } finally {
      await store.close();
    }
  }
  const file = join(target.dataDir, 'state.db');
  // A status check does not create the file.
  if (!apply && !existsSync(file)) return { backend: 'sqlite', location: file, before: planMigrations(SQLITE_MIGRATIONS, []), applied: [] };
  mkdirSync(target.dataDir, { recursive: true });
  const db = new Database(file);
  try {
    const before = sqliteMigrationStatus(db, SQLITE_MIGRATIONS);
    return { backend: 'sqlite', location: file, before, applied: apply ? migrateSqlite(db, SQLITE_MIGRATIONS) : [] };
  } finally {
    db.close();
  }
}
