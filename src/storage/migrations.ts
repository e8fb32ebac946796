/**
 * Versioned schema migrations, shared by every state backend. Each backend
 * lists its migrations (version 1 is the first schema) and records the ones
 * it applied in a `schema_migrations` table; opening a store applies the
 * pending ones, in order, each in its own transaction.
 */
import { Errors } from '../core/errors.ts';

export interface Migration {
  version: number;
  name: string;
  /** Statements run in one transaction. */
  sql: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  /** Epoch ms; 0 for a version found in a file written before migrations were recorded. */
  appliedAt: number;
}

export interface MigrationStatus {
  /** The highest applied version (0 for an empty database). */
  current: number;
  applied: AppliedMigration[];
  pending: Migration[];
}

/** A store whose schema is versioned: what `portrait migrate` drives. */
export interface Migratable {
  migrationStatus(): Promise<MigrationStatus>;
  /** Applies the pending migrations; returns those it applied (none when up to date). */
  migrate(): Promise<Migration[]>;
}

/** Checks a backend's migration list: versions 1, 2, 3 … with names. */
export function checkMigrations(all: readonly Migration[]): void {
  all.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list out of order: position ${i} holds version ${m.version}`);
  });
}

/** What remains to apply, given the applied versions; refuses a database newer than the code. */
export function planMigrations(all: readonly Migration[], applied: readonly AppliedMigration[]): MigrationStatus {
  checkMigrations(all);
  const current = applied.reduce((max, a) => Math.max(max, a.version), 0);
  if (current > all.length) throw Errors.schemaTooNew(current, all.length);
  const done = new Set(applied.map((a) => a.version));
  return { current, applied: [...applied].sort((a, b) => a.version - b.version), pending: all.filter((m) => !done.has(m.version)) };
}
