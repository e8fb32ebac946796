/**
 * The state writer thread: its own connection to the state file (and its
 * data-key file), for the writes the main thread makes while serving
 * requests (new data keys, audit records). SQLite lets one writer in at a
 * time per file; when the engine holds the state file's lock for a commit,
 * this thread waits for it, not the one answering HTTP.
 */
import Database from 'better-sqlite3';
import { answerCalls, threadData } from '../../core/thread/index.ts';
import { insertAudit } from './sqlite-audit.ts';
import { attachDataKeys, SqliteDataKeys } from './sqlite-data-keys.ts';
import type { StateWriterInit, ToStateWriter } from './state-writer-protocol.ts';

/** Longest wait for the engine's write lock (a commit of a large batch under load can take seconds). */
const LOCK_WAIT_MS = 60_000;

const init = threadData<StateWriterInit>();
const db = new Database(init.file, { fileMustExist: true, timeout: LOCK_WAIT_MS });
db.pragma(`synchronous = ${init.durability === 'full' ? 'FULL' : 'NORMAL'}`);
attachDataKeys(db, init.file);
const dataKeys = new SqliteDataKeys(db);

answerCalls<ToStateWriter>((m) => {
  switch (m.type) {
    case 'data-keys':
      return dataKeys.insertMissing(m.workspace, m.rows, m.createdAt);
    case 'audit':
      return insertAudit(db, m.records);
    case 'close':
      return db.close();
    default: {
      const never: never = m;
      throw new Error(`unknown call ${JSON.stringify(never)}`);
    }
  }
});
