/** State storage: the store contract and the embedded SQLite implementation. */
export type { StateStore, Changeset, HistoryEntry, AttributeConflict, DefinitionRow, QuarantineRow, Page, ApiKeyRow } from './store.ts';
export type { OutboxEntry, MembershipChange, SegmentChanges, SegmentDefinitionRow, SegmentStore } from './store.ts';
export { scoped } from './store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.ts';
