/** State storage: the store contract, schema migrations, and the SQLite (embedded) and PostgreSQL implementations. */
export type { StateStore, Changeset, HistoryEntry, AttributeConflict, AttributePrefilter, DefinitionRow, PartitionBackfill, StoredBackfill, QuarantineRow, NewQuarantineRow, Page, ApiKeyRow, ProfilePageRequest } from './store.ts';
export type { ErasedIdentifier, ErasurePlan, ErasureRow, PrivacyStore } from './store.ts';
export type { OutboxEntry, MembershipChange, SegmentChanges, SegmentBackfill, SegmentDefinitionRow, SegmentStore } from './store.ts';
export { emptyChangeset, scoped } from './store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.ts';
export { inspectStateDb, type StateFileFacts } from './sqlite/sqlite-inspect.ts';
/** The file beside a SQLite state file that holds its per-person data keys (`state.db` → `state.keys.db`). */
export { dataKeyFileOf } from './sqlite/sqlite-data-keys.ts';
export { PostgresStore, type PostgresStoreOptions } from './postgres/postgres-store.ts';
export { PartitionSegmentStore } from './postgres/postgres-partition-segments.ts';
export type { Migratable, Migration, MigrationStatus, AppliedMigration } from './migrations.ts';
export { openStateStore, migrateStorage, type StoreTarget, type MigrationReport, type OpenedStore } from './open.ts';
export type { DataKeyTable, RetentionTable, RetentionLogEntry } from './privacy-tables.ts';
export { sealDoc, openDoc, type ValueSealer, type ResealableStore, type RewriteReport, type SealedRewrite } from './sealer.ts';
export type { AuditRecord, AuditQuery, AuditStore } from './audit.ts';
