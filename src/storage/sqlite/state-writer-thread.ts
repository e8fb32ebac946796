/**
 * The state writer thread: its own connection to the state file (and its
 * data-key file), for the writes the main thread makes while serving
 * requests (new data keys, audit records, quarantined messages). SQLite lets
 * one writer in at a time per file; when the engine holds the state file's
 * lock for a commit, this thread waits for it, not the one answering HTTP.
 */
import Database from 'better-sqlite3';
import { answerCalls, threadData } from '../../core/thread/index.ts';
import { insertAudit, insertQuarantine } from './sqlite-request-writes.ts';
import { openDataKeyFile, SqliteDataKeys } from './sqlite-data-keys.ts';
import type { StateWriterInit, ToStateWriter } from './state-writer-protocol.ts';

/** Longest wait for the engine's write lock (a commit of a large batch under load can take seconds). */
const LOCK_WAIT_MS = 60_000;

const init = threadData<StateWriterInit>();
const db = new Database(init.file, { fileMustExist: true, timeout: LOCK_WAIT_MS });
db.pragma(`synchronous = ${init.durability === 'full' ? 'FULL' : 'NORMAL'}`);
const keysDb = openDataKeyFile(init.file);
const dataKeys = new SqliteDataKeys(keysDb);

type KeyCall = Extract<ToStateWriter, { type: 'data-keys' }>;
let waiting: Array<{ call: KeyCall; resolve: (keys: Map<string, string>) => void; reject: (e: unknown) => void }> = [];

/**
 * Group commit: the data-key calls that arrive while a transaction is on its
 * way to disk share the next one (one fsync for all; the file is FULL).
 */
function storeKeys(call: KeyCall): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    if (waiting.length === 0) setImmediate(commitKeys);
    waiting.push({ call, resolve, reject });
  });
}

function commitKeys(): void {
  const group = waiting;
  waiting = [];
  if (group.length === 0) return;
  try {
    const stored = keysDb.transaction(() => group.map(({ call }) => dataKeys.insertMissingSync(call.workspace, call.rows, call.createdAt)))();
    group.forEach((g, i) => g.resolve(stored[i]!));
  } catch (e) {
    for (const g of group) g.reject(e);
  }
}

answerCalls<ToStateWriter>((m) => {
  switch (m.type) {
    case 'data-keys':
      return storeKeys(m);
    case 'audit':
      return insertAudit(db, m.records);
    case 'quarantine':
      return insertQuarantine(db, m.row);
    case 'ready':
      return;
    case 'close':
      // Keys sent before the close are stored first.
      commitKeys();
      keysDb.close();
      return db.close();
    default: {
      const never: never = m;
      throw new Error(`unknown call ${JSON.stringify(never)}`);
    }
  }
});
