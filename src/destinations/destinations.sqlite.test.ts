import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../storage/sqlite/sqlite-store.ts';
import { destinationStoreContract } from './destination-store-contract.ts';
import { SqliteDestinationStore } from './sqlite-destination-store.ts';

// A file, not memory: a second connection to the same database stands for another process.
destinationStoreContract('SQLite', {
  async open(o = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-dest-'));
    const file = join(dir, 'state.db');
    const state = new SqliteStore({ file, sealer: o.sealer });
    const more: SqliteStore[] = [];
    return {
      state,
      store: new SqliteDestinationStore(state.db),
      async connect() {
        const s = new SqliteStore({ file });
        more.push(s);
        return new SqliteDestinationStore(s.db);
      },
      async dispose() {
        for (const s of more) await s.close();
        await state.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
