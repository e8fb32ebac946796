/**
 * The checkpoint thread of a SQLite state file (see sqlite-checkpointer.ts):
 * its own connection copies committed WAL pages into the database file.
 * PASSIVE: it neither waits for the engine's transactions nor holds them up.
 */
import Database from 'better-sqlite3';
import { answerCalls, runInBackground, threadData } from '../../core/thread/index.ts';
import type { CheckpointInit, ToCheckpointer } from './checkpoint-protocol.ts';

// Background work, like the engine whose commits it follows: requests come first when cores are short.
runInBackground();
const db = new Database(threadData<CheckpointInit>().file, { fileMustExist: true });

answerCalls<ToCheckpointer>((m) => {
  switch (m.type) {
    case 'checkpoint':
      db.pragma('wal_checkpoint(PASSIVE)');
      return;
    case 'close':
      return db.close();
    default: {
      const never: never = m;
      throw new Error(`unknown call ${JSON.stringify(never)}`);
    }
  }
});
