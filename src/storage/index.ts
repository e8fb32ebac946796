/** State storage: the store contract and the embedded SQLite implementation. */
export type { StateStore, Changeset, HistoryEntry, AttributeConflict, AttributePrefilter, DefinitionRow, QuarantineRow, Page, ApiKeyRow } from './store.ts';
export { scoped } from './store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.ts';
export { inspectStateDb, type StateFileFacts } from './sqlite/sqlite-inspect.ts';
