import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logContract } from './contract.ts';
import { SqliteEventLog } from './sqlite/sqlite-event-log.ts';
import { ThreadedEventLog } from './sqlite/threaded-event-log.ts';

logContract('SQLite', {
  async open() {
    return { log: new SqliteEventLog({ file: ':memory:' }), dispose: async () => {} };
  },
});

logContract('SQLite with a writer thread', {
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-log-contract-'));
    const log = await ThreadedEventLog.open({ file: join(dir, 'log.db') });
    return {
      log,
      dispose: async () => {
        await log.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
