import type { RewriteReport } from './sealer.ts';
/**
 * The state-store tables behind crypto-shredding and retention: per-person
 * data keys (sealed with the master keyring) and the retention log. Each
 * backend implements them beside its store (sqlite/, postgres/).
 */

/** Per-person data keys, by workspace and subject (a keyed hash of the identifier that owns events). */
export interface DataKeyTable {
  /** The sealed keys of those subjects that have one. */
  get(workspace: string, subjects: readonly string[]): Promise<Map<string, string>>;
  /** Stores keys for subjects that have none (an existing key wins), then returns the sealed key of every subject given. */
  insertMissing(workspace: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, createdAt: number): Promise<Map<string, string>>;
  /** Deletes the keys of those subjects; returns how many existed. */
  delete(workspace: string, subjects: readonly string[]): Promise<number>;
  /**
   * Passes every sealed key to `f` in batches; where `f` returns a new
   * token, stores it unless the row changed meanwhile (master key rotation:
   * counting keys' use, re-sealing).
   */
  rewrite(f: (workspace: string, subject: string, sealed: string) => string | undefined, batch: number): Promise<RewriteReport>;
}

/** One purge, as the retention log keeps it: counts and the rule, never personal data. */
export interface RetentionLogEntry {
  id: number;
  time: number;
  workspace: string;
  /** What was purged: raw events from the log, or inactive profiles. */
  kind: 'events' | 'profiles';
  /** The rule as configured (JSON). */
  rule: string;
  purged: number;
}

export interface RetentionTable {
  append(entries: ReadonlyArray<Omit<RetentionLogEntry, 'id'>>): Promise<void>;
  /** Entries of one workspace (and those of rules over every workspace, workspace "*"), newest first. */
  list(workspace: string, opts?: { limit?: number; before?: number }): Promise<RetentionLogEntry[]>;
  /** Profiles whose lastSeen is before `before` (ms), in one workspace or all, at most `limit`. */
  inactiveProfiles(before: number, opts: { workspace?: string; limit: number }): Promise<Array<{ workspace: string; id: string }>>;
}

/** The data-key table on SQLite (kept in a file of its own beside the state file: see sqlite/sqlite-data-keys.ts). */
export const DATA_KEYS_SQLITE = `
CREATE TABLE data_keys (
  workspace  TEXT NOT NULL,
  subject    TEXT NOT NULL,
  sealed_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace, subject)
) WITHOUT ROWID;`;

export const PRIVACY_TABLES_SQLITE = `${DATA_KEYS_SQLITE}
CREATE TABLE retention_log (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  time      INTEGER NOT NULL,
  workspace TEXT NOT NULL,
  kind      TEXT NOT NULL,
  rule      TEXT NOT NULL,
  purged    INTEGER NOT NULL
);
CREATE INDEX retention_log_workspace ON retention_log (workspace, id);
`;

export const PRIVACY_TABLES_POSTGRES = `
CREATE TABLE data_keys (
  workspace  TEXT COLLATE "C" NOT NULL,
  subject    TEXT COLLATE "C" NOT NULL,
  sealed_key TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workspace, subject)
);
CREATE TABLE retention_log (
  id        BIGSERIAL PRIMARY KEY,
  time      BIGINT NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  kind      TEXT COLLATE "C" NOT NULL,
  rule      TEXT COLLATE "C" NOT NULL,
  purged    BIGINT NOT NULL
);
CREATE INDEX retention_log_workspace ON retention_log (workspace, id);
`;
