/**
 * The embedded state schema (SQLite). Versioned: `SQLITE_MIGRATIONS` lists every
 * schema change and `schema_migrations` records what was applied (see
 * sqlite-migrate.ts). Files written before that table existed carry a
 * one-row `schema_version` table instead, read as the applied version.
 */
import { PRIVACY_TABLES_SQLITE } from '../privacy-tables.ts';
import type { Migration } from '../migrations.ts';
import { DERIVED_TABLES as BASE_DERIVED_TABLES } from '../rows.ts';
import { SQLITE_SEGMENT_SCHEMA } from './sqlite-segments.ts';
import { SQLITE_PRIVACY_SCHEMA } from './sqlite-privacy.ts';
import { AUDIT_SQLITE } from '../audit.ts';

/** Version 1: the first schema. */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS engine_position (
  partition INTEGER PRIMARY KEY,
  position  INTEGER NOT NULL
);
-- A rowid table: documents are large rows, which WITHOUT ROWID tables store poorly.
CREATE TABLE IF NOT EXISTS profiles (
  workspace TEXT NOT NULL,
  id        TEXT NOT NULL,
  doc       TEXT NOT NULL,
  UNIQUE (workspace, id)
);
CREATE TABLE IF NOT EXISTS identities (
  workspace  TEXT NOT NULL,
  ident      TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  PRIMARY KEY (workspace, ident)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity_links (
  workspace  TEXT NOT NULL,
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  via        TEXT NOT NULL,
  position   INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  time       INTEGER NOT NULL,
  PRIMARY KEY (workspace, a, b)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_links_b ON identity_links (workspace, b);
CREATE TABLE IF NOT EXISTS blocked_links (
  workspace TEXT NOT NULL,
  a         TEXT NOT NULL,
  b         TEXT NOT NULL,
  PRIMARY KEY (workspace, a, b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merges (
  seq        INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL,
  workspace  TEXT NOT NULL,
  into_id    TEXT NOT NULL,
  from_id    TEXT NOT NULL,
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  position   INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  time       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS merges_into ON merges (workspace, into_id);
CREATE INDEX IF NOT EXISTS merges_from ON merges (workspace, from_id);
CREATE TABLE IF NOT EXISTS identity_conflicts (
  seq        INTEGER PRIMARY KEY,
  workspace  TEXT NOT NULL,
  reason     TEXT NOT NULL,
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  profile_a  TEXT NOT NULL,
  profile_b  TEXT NOT NULL,
  position   INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  time       INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS identity_conflicts_once ON identity_conflicts (workspace, reason, a, b);
CREATE TABLE IF NOT EXISTS attribute_conflicts (
  seq        INTEGER PRIMARY KEY,
  workspace  TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  attribute  TEXT NOT NULL,
  reason     TEXT NOT NULL,
  kept       TEXT NOT NULL,
  rejected   TEXT NOT NULL,
  position   INTEGER NOT NULL,
  message_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attribute_conflicts_profile ON attribute_conflicts (workspace, profile_id);
-- One row per profile per commit, holding that commit's entries in position order: a write
-- per touched profile instead of one per event.
CREATE TABLE IF NOT EXISTS trait_history (
  seq            INTEGER PRIMARY KEY,
  workspace      TEXT NOT NULL,
  profile_id     TEXT NOT NULL,
  first_position INTEGER NOT NULL,
  last_position  INTEGER NOT NULL,
  entries        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trait_history_profile ON trait_history (workspace, profile_id, last_position);
CREATE TABLE IF NOT EXISTS definitions (
  name            TEXT PRIMARY KEY,
  hash            TEXT NOT NULL,
  version         INTEGER NOT NULL,
  definition      TEXT NOT NULL,
  status          TEXT NOT NULL,
  backfill_cursor INTEGER NOT NULL,
  backfill_target INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace   TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  raw         TEXT NOT NULL,
  reason      TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS quarantine_ws ON quarantine (workspace, status, id);
-- API keys: only a SHA-256 of each key's secret part is kept.
CREATE TABLE IF NOT EXISTS api_keys (
  id          TEXT PRIMARY KEY,
  workspace   TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  scopes      TEXT NOT NULL,
  label       TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
`;

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: SQLITE_SCHEMA },
  { version: 2, name: 'trait definitions remember their source', sql: `ALTER TABLE definitions ADD COLUMN source TEXT NOT NULL DEFAULT 'config';` },
  { version: 3, name: 'segments, tags and the outbox', sql: SQLITE_SEGMENT_SCHEMA },
  { version: 4, name: 'erasure ledger and suppression list', sql: SQLITE_PRIVACY_SCHEMA },
  { version: 5, name: 'per-person data keys (crypto-shredding) and the retention log', sql: PRIVACY_TABLES_SQLITE },
  { version: 6, name: 'audit log', sql: AUDIT_SQLITE },
  // A message sent again (its own messageId, the same text) is found by its digest instead of quarantined twice.
  { version: 7, name: 'quarantined messages found again by digest', sql: 'ALTER TABLE quarantine ADD COLUMN digest TEXT; CREATE UNIQUE INDEX quarantine_digest ON quarantine (workspace, digest);' },
];

/**
 * Tables holding state derived from the log; a rebuild empties and refills
 * them. Segment memberships are kept: the evaluation after a rebuild
 * compares against them, so only real changes are notified.
 */
export const DERIVED_TABLES = [...BASE_DERIVED_TABLES, 'segment_schedule'] as const;
