/**
 * The PostgreSQL state schema: the same tables, columns and meaning as the
 * SQLite schema (src/storage/sqlite/sqlite-schema.ts). Times and positions are
 * BIGINT (read back as numbers: they stay below 2^53); JSON documents are TEXT,
 * written and read as JSON text exactly as in SQLite (JSONB would refuse
 * "\u0000" in strings and re-order keys). Text compares byte-wise
 * (COLLATE "C"), as in SQLite, so every ORDER BY agrees across backends.
 */
import { PRIVACY_TABLES_POSTGRES } from '../privacy-tables.ts';
import type { Migration } from '../migrations.ts';
import { DERIVED_TABLES } from '../rows.ts';
import { POSTGRES_SEGMENT_SCHEMA } from './postgres-segments.ts';
import { POSTGRES_PARTITION_SEGMENT_SCHEMA } from './postgres-partition-segments.ts';
import { AUDIT_POSTGRES } from '../audit.ts';
import { POSTGRES_PRIVACY_SCHEMA } from './postgres-privacy.ts';

/** Version 1: the first schema. */
export const POSTGRES_SCHEMA = `
CREATE TABLE engine_position (
  partition INTEGER PRIMARY KEY,
  position  BIGINT NOT NULL
);
CREATE TABLE profiles (
  workspace TEXT COLLATE "C" NOT NULL,
  id        TEXT COLLATE "C" NOT NULL,
  doc       TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (workspace, id)
);
CREATE TABLE identities (
  workspace  TEXT COLLATE "C" NOT NULL,
  ident      TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (workspace, ident)
);
CREATE TABLE identity_links (
  workspace  TEXT COLLATE "C" NOT NULL,
  a          TEXT COLLATE "C" NOT NULL,
  b          TEXT COLLATE "C" NOT NULL,
  via        TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  time       BIGINT NOT NULL,
  PRIMARY KEY (workspace, a, b)
);
CREATE INDEX identity_links_b ON identity_links (workspace, b);
CREATE TABLE blocked_links (
  workspace TEXT COLLATE "C" NOT NULL,
  a         TEXT COLLATE "C" NOT NULL,
  b         TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (workspace, a, b)
);
CREATE TABLE merges (
  seq        BIGSERIAL PRIMARY KEY,
  kind       TEXT COLLATE "C" NOT NULL,
  workspace  TEXT COLLATE "C" NOT NULL,
  into_id    TEXT COLLATE "C" NOT NULL,
  from_id    TEXT COLLATE "C" NOT NULL,
  a          TEXT COLLATE "C" NOT NULL,
  b          TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  time       BIGINT NOT NULL
);
CREATE INDEX merges_into ON merges (workspace, into_id);
CREATE INDEX merges_from ON merges (workspace, from_id);
CREATE TABLE identity_conflicts (
  seq        BIGSERIAL PRIMARY KEY,
  workspace  TEXT COLLATE "C" NOT NULL,
  reason     TEXT COLLATE "C" NOT NULL,
  a          TEXT COLLATE "C" NOT NULL,
  b          TEXT COLLATE "C" NOT NULL,
  profile_a  TEXT COLLATE "C" NOT NULL,
  profile_b  TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  time       BIGINT NOT NULL
);
CREATE UNIQUE INDEX identity_conflicts_once ON identity_conflicts (workspace, reason, a, b);
CREATE TABLE attribute_conflicts (
  seq        BIGSERIAL PRIMARY KEY,
  workspace  TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL,
  attribute  TEXT COLLATE "C" NOT NULL,
  reason     TEXT COLLATE "C" NOT NULL,
  kept       TEXT COLLATE "C" NOT NULL,
  rejected   TEXT COLLATE "C" NOT NULL,
  position   BIGINT NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX attribute_conflicts_profile ON attribute_conflicts (workspace, profile_id);
CREATE TABLE trait_history (
  seq            BIGSERIAL PRIMARY KEY,
  workspace      TEXT COLLATE "C" NOT NULL,
  profile_id     TEXT COLLATE "C" NOT NULL,
  first_position BIGINT NOT NULL,
  last_position  BIGINT NOT NULL,
  entries        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX trait_history_profile ON trait_history (workspace, profile_id, last_position);
CREATE TABLE definitions (
  name            TEXT COLLATE "C" PRIMARY KEY,
  hash            TEXT COLLATE "C" NOT NULL,
  version         INTEGER NOT NULL,
  definition      TEXT COLLATE "C" NOT NULL,
  status          TEXT COLLATE "C" NOT NULL,
  backfill_cursor BIGINT NOT NULL,
  backfill_target BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE TABLE quarantine (
  id          BIGSERIAL PRIMARY KEY,
  workspace   TEXT COLLATE "C" NOT NULL,
  received_at BIGINT NOT NULL,
  raw         TEXT COLLATE "C" NOT NULL,
  reason      TEXT COLLATE "C" NOT NULL,
  status      TEXT COLLATE "C" NOT NULL DEFAULT 'open'
);
CREATE INDEX quarantine_ws ON quarantine (workspace, status, id);
CREATE TABLE api_keys (
  id          TEXT COLLATE "C" PRIMARY KEY,
  workspace   TEXT COLLATE "C" NOT NULL,
  secret_hash BYTEA NOT NULL,
  scopes      TEXT COLLATE "C" NOT NULL,
  label       TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);
`;

/**
 * Version 8: what the delivery side derives from the outbox, as in SQLite
 * (src/destinations/schema.ts); read and written by
 * src/destinations/postgres-destination-store.ts.
 */
const POSTGRES_DESTINATION_SCHEMA = `
CREATE TABLE destinations (
  id         TEXT COLLATE "C" PRIMARY KEY,
  workspace  TEXT COLLATE "C" NOT NULL,
  url        TEXT COLLATE "C" NOT NULL,
  secret     TEXT COLLATE "C" NOT NULL,
  kinds      TEXT COLLATE "C" NOT NULL,
  segments   TEXT COLLATE "C",
  enabled    BOOLEAN NOT NULL,
  source     TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  purpose    TEXT COLLATE "C"
);
-- The last outbox seq each destination has turned into deliveries; locked by the process
-- dispatching for it (FOR UPDATE SKIP LOCKED), moved in the same transaction as the deliveries.
CREATE TABLE destination_cursors (
  destination TEXT COLLATE "C" PRIMARY KEY,
  seq         BIGINT NOT NULL
);
CREATE INDEX outbox_workspace ON outbox (workspace, seq);
CREATE TABLE deliveries (
  seq             BIGSERIAL PRIMARY KEY,
  id              TEXT COLLATE "C" NOT NULL UNIQUE,
  destination     TEXT COLLATE "C" NOT NULL,
  workspace       TEXT COLLATE "C" NOT NULL,
  outbox_seq      BIGINT NOT NULL,
  kind            TEXT COLLATE "C" NOT NULL,
  profile_id      TEXT COLLATE "C" NOT NULL,
  body            TEXT COLLATE "C" NOT NULL,
  status          TEXT COLLATE "C" NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at BIGINT,
  last_error      TEXT COLLATE "C",
  response_code   INTEGER,
  created_at      BIGINT NOT NULL,
  delivered_at    BIGINT,
  UNIQUE (destination, outbox_seq)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_log ON deliveries (destination, status, seq);
CREATE TABLE dead_letters (
  seq           BIGSERIAL PRIMARY KEY,
  delivery_id   TEXT COLLATE "C" NOT NULL,
  destination   TEXT COLLATE "C" NOT NULL,
  workspace     TEXT COLLATE "C" NOT NULL,
  failed_at     BIGINT NOT NULL,
  attempts      INTEGER NOT NULL,
  last_error    TEXT COLLATE "C",
  response_code INTEGER,
  replayed_at   BIGINT
);
CREATE INDEX dead_letters_destination ON dead_letters (destination, seq);
`;

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: POSTGRES_SCHEMA },
  { version: 2, name: 'trait definitions remember their source', sql: `ALTER TABLE definitions ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'config';` },
  { version: 3, name: 'segments, tags and the outbox', sql: POSTGRES_SEGMENT_SCHEMA },
  { version: 4, name: 'per-person data keys (crypto-shredding) and the retention log', sql: PRIVACY_TABLES_POSTGRES },
  { version: 5, name: 'audit log', sql: AUDIT_POSTGRES },
  {
    version: 6,
    name: 'partition leases of workers',
    // Times are the database's clock (ms since the epoch), so workers' clocks never disagree about expiry.
    sql: `
CREATE TABLE partition_leases (
  partition  INTEGER PRIMARY KEY,
  owner      TEXT COLLATE "C" NOT NULL,
  token      BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE cluster_workers (
  worker_id  TEXT COLLATE "C" PRIMARY KEY,
  expires_at BIGINT NOT NULL
);`,
  },
  { version: 7, name: 'erasure ledger and suppression list', sql: POSTGRES_PRIVACY_SCHEMA },
  { version: 8, name: 'webhook destinations, deliveries and dead letters', sql: POSTGRES_DESTINATION_SCHEMA },
  {
    version: 9,
    name: 'trait backfill progress per partition',
    sql: `
CREATE TABLE trait_backfills (
  name      TEXT COLLATE "C" NOT NULL,
  partition INTEGER NOT NULL,
  hash      TEXT COLLATE "C" NOT NULL,
  cursor    BIGINT NOT NULL,
  target    BIGINT NOT NULL,
  done      BOOLEAN NOT NULL,
  PRIMARY KEY (name, partition)
);`,
  },
  { version: 10, name: 'segments on partitioned workers', sql: POSTGRES_PARTITION_SEGMENT_SCHEMA },
  {
    version: 11,
    name: 'identity routes and control records of partitioned workers',
    // identities.position: the log position of the last write (partitions write shared rows; the latest wins).
    // identity_routes: each partition's own view (profile here, or the partition that owns it).
    // control_applied: per partition and source partition, the last control record applied (derived).
    // partition_blocks: the links each partition's unmerges removed (derived).
    // control_outbox / control_published: records to publish, and how far each partition has published (kept by a rebuild).
    sql: `
ALTER TABLE identities ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
CREATE TABLE identity_routes (
  partition  INTEGER NOT NULL,
  workspace  TEXT COLLATE "C" NOT NULL,
  ident      TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C",
  owner      INTEGER NOT NULL,
  PRIMARY KEY (partition, workspace, ident)
);
CREATE INDEX identity_routes_profile ON identity_routes (workspace, profile_id);
CREATE TABLE control_applied (
  partition INTEGER NOT NULL,
  source    INTEGER NOT NULL,
  at        BIGINT NOT NULL,
  idx       INTEGER NOT NULL,
  PRIMARY KEY (partition, source)
);
CREATE TABLE control_outbox (
  partition INTEGER NOT NULL,
  at        BIGINT NOT NULL,
  idx       INTEGER NOT NULL,
  record    TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (partition, at, idx)
);
CREATE TABLE partition_blocks (
  partition INTEGER NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  a         TEXT COLLATE "C" NOT NULL,
  b         TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (partition, workspace, a, b)
);
CREATE TABLE control_published (
  partition INTEGER PRIMARY KEY,
  at        BIGINT NOT NULL,
  idx       INTEGER NOT NULL
);`,
  },
  {
    version: 12,
    name: 'erased identifiers of partitioned workers',
    // Per partition, the identifiers erased (keyed hashes), the log position of the erasure and the records from before it dropped since (derived).
    sql: `
CREATE TABLE erased_identifiers (
  partition INTEGER NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  hash      TEXT COLLATE "C" NOT NULL,
  position  BIGINT NOT NULL,
  dropped   INTEGER NOT NULL,
  PRIMARY KEY (partition, workspace, hash)
);`,
  },
  // A destination's tag filter: JSON list of tag names, null for every tag (as segments).
  { version: 13, name: 'tag filter of webhook destinations', sql: 'ALTER TABLE destinations ADD COLUMN tags TEXT COLLATE "C";' },
  {
    version: 14,
    name: 'rebuild fence of partitioned workers',
    // One row: the worker rebuilding the deployment, an epoch that grows at every raise, and an expiry on the database's clock (as leases).
    sql: `
CREATE TABLE rebuild_fence (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  owner      TEXT COLLATE "C" NOT NULL,
  epoch      BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);`,
  },
  // A message sent again (its own messageId, the same text) is found by its digest instead of quarantined twice.
  { version: 15, name: 'quarantined messages found again by digest', sql: 'ALTER TABLE quarantine ADD COLUMN digest TEXT COLLATE "C"; CREATE UNIQUE INDEX quarantine_digest ON quarantine (workspace, digest);' },
];

/** Derived tables on PostgreSQL: the shared ones plus the segment re-evaluation schedule (as on SQLite), the partitions' trait and segment backfill progress, identity routes, applied control records, each partition's removed links and erased identifiers. */
export const POSTGRES_DERIVED_TABLES = [...DERIVED_TABLES, 'segment_schedule', 'trait_backfills', 'segment_backfills', 'identity_routes', 'control_applied', 'partition_blocks', 'erased_identifiers'] as const;
