import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../privacy/keyring.ts';
import { PiiSealer } from '../privacy/pii-sealer.ts';
import { storeContract } from './contract.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

storeContract('SQLite', {
  async open() {
    return { store: new SqliteStore({ file: ':memory:' }), dispose: async () => {} };
  },
});

// The same contract with the attributes it uses stored sealed: sealing must not change what a store answers.
storeContract('SQLite, personal attributes sealed', {
  async open() {
    const sealer = new PiiSealer(Keyring.generate(), ['city', 'plan', 'age']);
    return { store: new SqliteStore({ file: ':memory:', sealer }), dispose: async () => {} };
  },
});

// Commits written by a commit thread while this one encodes them (a file: the thread opens it by path), sealed.
storeContract('SQLite, commits in a thread of their own', {
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-commit-thread-'));
    const sealer = new PiiSealer(Keyring.generate(), ['city', 'plan', 'age']);
    const store = new SqliteStore({ file: join(dir, 'state.db'), sealer, commitThread: true });
    return {
      store,
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
