import { storeContract } from './contract.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

storeContract('SQLite', {
  async open() {
    return { store: new SqliteStore({ file: ':memory:' }), dispose: async () => {} };
  },
});
