import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { segmentStoreContract } from './segment-contract.ts';
import { PostgresStore } from './postgres/postgres-store.ts';

segmentStoreContract(
  'PostgreSQL',
  {
    async open() {
      const db = await tempDatabase();
      const store = await PostgresStore.open({ url: db.url, poolSize: 4 });
      return { store, dispose: db.drop };
    },
  },
  { skip: await serviceSkip('PostgreSQL') },
);
