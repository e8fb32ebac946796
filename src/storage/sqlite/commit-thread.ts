/**
 * The commit thread of a SQLite state store: its own connection writes each
 * commit's parts as they arrive, in one transaction (see sqlite-commit-thread.ts).
 */
import { parentPort } from 'node:worker_threads';
import { isPortraitError } from '../../core/errors.ts';
import { threadData } from '../../core/thread/index.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { CommitInit, FromCommitThread, ToCommitThread } from './commit-protocol.ts';

const port = parentPort!;
const post = (m: FromCommitThread) => port.postMessage(m);
// No sealer: every value that needs one arrives sealed.
const store = new SqliteStore(threadData<CommitInit>());
const tx = store.sealedCommit;
/** Commits whose begin or a part failed: their later parts are dropped, their finish reports the error. */
const failed = new Map<number, unknown>();

function attempt(id: number, f: () => void): void {
  if (failed.has(id)) return;
  try {
    f();
  } catch (e) {
    failed.set(id, e);
    tx.abort();
  }
}

port.on('message', (m: ToCommitThread) => {
  switch (m.type) {
    case 'begin':
      attempt(m.id, () => tx.begin(m.rest, m.conflicts));
      break;
    case 'profiles':
      attempt(m.id, () => tx.profiles(m.rows));
      break;
    case 'history':
      attempt(m.id, () => tx.history(m.rows));
      break;
    case 'finish': {
      attempt(m.id, () => tx.finish(m));
      const e = failed.get(m.id);
      failed.delete(m.id);
      if (e === undefined) post({ type: 'committed', id: m.id });
      else post(isPortraitError(e) ? { type: 'failed', id: m.id, code: e.code, status: e.status, message: e.message } : { type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e) });
      break;
    }
    case 'abort':
      failed.delete(m.id);
      tx.abort();
      break;
    case 'close':
      tx.abort();
      void store.close().then(() => post({ type: 'closed', id: m.id }));
      break;
    default: {
      const never: never = m;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});
