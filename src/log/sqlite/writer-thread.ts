/**
 * The event log's writer thread: it owns the only writing connection to the
 * log file, so the fsync of each group commit blocks this thread, never the
 * one that answers HTTP requests.
 */
import { parentPort } from 'node:worker_threads';
import { isPortraitError } from '../../core/errors.ts';
import { threadData } from '../../core/thread/index.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';
import type { FromWriter, ToWriter, WriterInit } from './writer-protocol.ts';

const port = parentPort!;
const post = (m: FromWriter) => port.postMessage(m);
const failure = (id: number, e: unknown): FromWriter =>
  isPortraitError(e) ? { type: 'failed', id, code: e.code, message: e.message } : { type: 'failed', id, message: e instanceof Error ? e.message : String(e) };

const log = new SqliteEventLog(threadData<WriterInit>());
post({ type: 'ready', head: log.head() });

port.on('message', (m: ToWriter) => {
  switch (m.type) {
    case 'append':
      // Appends that arrive in the same turn share one transaction (the log's group commit).
      log.append(m.records).then(
        (outcomes) => post({ type: 'appended', id: m.id, outcomes, head: log.head() }),
        (e) => post(failure(m.id, e)),
      );
      break;
    case 'expire':
      try {
        post({ type: 'expired', id: m.id, count: log.expireDedupSync(m.before) });
      } catch (e) {
        post(failure(m.id, e));
      }
      break;
    case 'purge':
      try {
        post({ type: 'purged', id: m.id, counts: [...log.purgeSync(m.filter, { dryRun: m.dryRun })] });
      } catch (e) {
        post(failure(m.id, e));
      }
      break;
    case 'close':
      void log.close().then(() => post({ type: 'closed', id: m.id }));
      break;
    default: {
      const never: never = m;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});
