/** Messages between the main thread and the event log's writer thread. */
import type { LogRecord } from '../../core/event.ts';
import type { AppendOutcome, PurgeFilter } from '../event-log.ts';
import type { SqliteEventLogOptions } from './sqlite-event-log.ts';

export type WriterInit = SqliteEventLogOptions;

export type ToWriter =
  | { type: 'append'; id: number; records: readonly LogRecord[] }
  | { type: 'expire'; id: number; before: number }
  | { type: 'purge'; id: number; filter: PurgeFilter; dryRun: boolean }
  | { type: 'close'; id: number };

export type FromWriter =
  | { type: 'ready'; head: number }
  | { type: 'appended'; id: number; outcomes: AppendOutcome[]; head: number }
  | { type: 'expired'; id: number; count: number }
  | { type: 'purged'; id: number; counts: Array<[string, number]> }
  | { type: 'closed'; id: number }
  | { type: 'failed'; id: number; code?: string; message: string };
