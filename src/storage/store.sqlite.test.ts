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
