/**
 * SQLite tables of the destinations part, beside the state store's. The
 * outbox and segment_members tables belong to the state schema (the engine
 * writes them); these hold what the delivery side derives from them.
 */
export const DESTINATION_SCHEMA = `
CREATE TABLE IF NOT EXISTS destinations (
  id         TEXT PRIMARY KEY,
  workspace  TEXT NOT NULL,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  kinds      TEXT NOT NULL,
  segments   TEXT,
  enabled    INTEGER NOT NULL,
  source     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- The last outbox seq each destination has turned into deliveries; moved in the same
-- transaction as the deliveries it covers.
CREATE TABLE IF NOT EXISTS destination_cursors (
  destination TEXT PRIMARY KEY,
  seq         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_workspace ON outbox (workspace, seq);
CREATE TABLE IF NOT EXISTS deliveries (
  seq             INTEGER PRIMARY KEY,
  id              TEXT NOT NULL UNIQUE,
  destination     TEXT NOT NULL,
  workspace       TEXT NOT NULL,
  outbox_seq      INTEGER NOT NULL,
  kind            TEXT NOT NULL,
  profile_id      TEXT NOT NULL,
  body            TEXT NOT NULL,
  status          TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER,
  last_error      TEXT,
  response_code   INTEGER,
  created_at      INTEGER NOT NULL,
  delivered_at    INTEGER,
  UNIQUE (destination, outbox_seq)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_log ON deliveries (destination, status, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
  seq           INTEGER PRIMARY KEY,
  delivery_id   TEXT NOT NULL,
  destination   TEXT NOT NULL,
  workspace     TEXT NOT NULL,
  failed_at     INTEGER NOT NULL,
  attempts      INTEGER NOT NULL,
  last_error    TEXT,
  response_code INTEGER,
  replayed_at   INTEGER
);
CREATE INDEX IF NOT EXISTS dead_letters_destination ON dead_letters (destination, seq);
`;
