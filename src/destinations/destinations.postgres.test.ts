import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { PostgresStore } from '../storage/postgres/postgres-store.ts';
import { destinationStoreContract } from './destination-store-contract.ts';
import { PostgresDestinationStore } from './postgres-destination-store.ts';

destinationStoreContract(
  'PostgreSQL',
  {
    async open(o = {}) {
      const db = await tempDatabase();
      const state = await PostgresStore.open({ url: db.url, poolSize: 4, sealer: o.sealer });
      const more: PostgresStore[] = [];
      return {
        state,
        store: new PostgresDestinationStore(state.pool),
        async connect() {
          // Another pool on the same database, as another process would open.
          const s = await PostgresStore.open({ url: db.url, poolSize: 4, migrate: false });
          more.push(s);
          return new PostgresDestinationStore(s.pool);
        },
        async dispose() {
          for (const s of more) await s.close();
          await state.close();
          await db.drop();
        },
      };
    },
  },
  { skip: await serviceSkip('PostgreSQL') },
);
