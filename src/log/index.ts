/** The event log: interface and the embedded SQLite implementation. */
export type { EventLog, AppendOutcome } from './event-log.ts';
export { SqliteEventLog, type SqliteEventLogOptions } from './sqlite/sqlite-event-log.ts';
export { ThreadedEventLog } from './sqlite/threaded-event-log.ts';
export { inspectLogDb } from './sqlite/sqlite-log-inspect.ts';
