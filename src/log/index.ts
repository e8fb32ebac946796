/** The event log: interface, partitioning, the embedded SQLite and the NATS JetStream implementations. */
export type { EventLog, AppendOutcome, EraseSelector, PurgeFilter } from './event-log.ts';
export { SqliteEventLog, type SqliteEventLogOptions } from './sqlite/sqlite-event-log.ts';
export { ThreadedEventLog } from './sqlite/threaded-event-log.ts';
export { inspectLogDb } from './sqlite/sqlite-log-inspect.ts';
export { NatsEventLog, type NatsEventLogOptions } from './nats/nats-event-log.ts';
export { partitionKey, partitionOf, partitionOfRecord } from './partition.ts';
