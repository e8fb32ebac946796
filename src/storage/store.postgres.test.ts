import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { Keyring } from '../privacy/keyring.ts';
import { PiiSealer } from '../privacy/pii-sealer.ts';
import { storeContract } from './contract.ts';
import { PostgresStore } from './postgres/postgres-store.ts';

const skip = await serviceSkip('PostgreSQL');

storeContract(
  'PostgreSQL',
  {
    async open() {
      const db = await tempDatabase();
      const store = await PostgresStore.open({ url: db.url, poolSize: 4 });
      return { store, dispose: db.drop };
    },
  },
  { skip },
);

// The same contract with the attributes it uses stored sealed: sealing must not change what a store answers.
storeContract(
  'PostgreSQL, personal attributes sealed',
  {
    async open() {
      const db = await tempDatabase();
      const store = await PostgresStore.open({ url: db.url, poolSize: 4, sealer: new PiiSealer(Keyring.generate(), ['city', 'plan', 'age']) });
      return { store, dispose: db.drop };
    },
  },
  { skip },
);
