import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../storage/sqlite/sqlite-store.ts';
import { destinationStoreContract } from './destination-store-contract.ts';
import { SqliteDestinationStore } from './sqlite-destination-store.ts';
import { ThreadedDestinationStore } from './threaded-destination-store.ts';

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

// The same suite through the destinations' own thread (what a Portrait on a state file uses).
destinationStoreContract('SQLite, from its own thread', {
  async open(o = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-dest-'));
    const file = join(dir, 'state.db');
    const state = new SqliteStore({ file, sealer: o.sealer });
    const stores: ThreadedDestinationStore[] = [new ThreadedDestinationStore({ file, durability: 'normal' })];
    return {
      state,
      store: stores[0]!,
      async connect() {
        const s = new ThreadedDestinationStore({ file, durability: 'normal' });
        stores.push(s);
        return s;
      },
      async dispose() {
        for (const s of stores) await s.close();
        await state.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
