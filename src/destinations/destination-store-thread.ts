/**
 * The destinations' own thread on SQLite: one connection to the state file
 * serving every DestinationStore call (see threaded-destination-store.ts).
 * SQLite lets one writer in at a time per file, so recording deliveries
 * waits whenever the engine commits; waiting here keeps that wait off the
 * thread answering HTTP.
 */
import Database from 'better-sqlite3';
import { answerCalls, threadData } from '../core/thread/index.ts';
import { SqliteDestinationStore } from './sqlite-destination-store.ts';
import type { DestinationThreadInit, ToDestinationThread } from './destination-thread-protocol.ts';

/** Longest wait for the engine's write lock (a commit of a large batch under load can take seconds). */
const LOCK_WAIT_MS = 60_000;

const init = threadData<DestinationThreadInit>();
const db = new Database(init.file, { fileMustExist: true, timeout: LOCK_WAIT_MS });
db.pragma(`synchronous = ${init.durability === 'full' ? 'FULL' : 'NORMAL'}`);
const store = new SqliteDestinationStore(db);

answerCalls<ToDestinationThread>((m) => {
  if (m.type === 'close') return db.close();
  const method = store[m.method] as (...args: unknown[]) => unknown;
  return method.apply(store, m.args);
});
