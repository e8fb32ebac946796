import { logContract } from './contract.ts';
import { SqliteEventLog } from './sqlite/sqlite-event-log.ts';

logContract('SQLite', {
  async open() {
    return { log: new SqliteEventLog({ file: ':memory:' }), dispose: async () => {} };
  },
});
