import { segmentStoreContract } from './segment-contract.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

segmentStoreContract('SQLite (in memory)', {
  async open() {
    return { store: new SqliteStore({ file: ':memory:' }), dispose: async () => {} };
  },
});
