import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { insertOutbox } from '../storage/postgres/postgres-segments.ts';
import { PostgresStore } from '../storage/postgres/postgres-store.ts';
import { destinationStoreContract } from './destination-store-contract.ts';
import { Destinations } from './destinations.ts';
import { PostgresDestinationStore } from './postgres-destination-store.ts';

const skip = await serviceSkip('PostgreSQL');

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
  { skip },
);

describe('the outbox on PostgreSQL', { skip }, () => {
  it('a delivery cursor never passes an outbox row still being committed: outbox writers take seqs and commit in order', async () => {
    const db = await tempDatabase();
    const state = await PostgresStore.open({ url: db.url, poolSize: 4 });
    try {
      const store = new PostgresDestinationStore(state.pool);
      const delivery = { maxAttempts: 5, backoffBaseMs: 1000, backoffCapMs: 60_000, timeoutMs: 300, concurrency: 4, batchSize: 10, idleMs: 50 };
      const d = await Destinations.open({ store, clock: new ManualClock(0), delivery, configured: [], defaultWorkspace: 'w' });
      await d.create('w', { id: 'hook', url: 'http://127.0.0.1:9/hook', secret: 'whsec_order_0123456789', kinds: ['profile.updated'] });
      const row = (profileId: string) => ({ workspace: 'w', kind: 'profile.updated', profileId, payload: '{}', position: 1, createdAt: 0 });
      // A writer takes its seq and stays open; a second writer starts after it.
      const slow = await state.pool.connect();
      await slow.query('BEGIN');
      const [first] = await insertOutbox(slow, [row('first')]);
      const second = store.appendOutbox([row('second')]);
      // The second writer waits for the first to commit; a dispatch meanwhile finds nothing to pass.
      await new Promise((r) => setTimeout(r, 200));
      await d.worker.dispatch();
      await slow.query('COMMIT');
      slow.release();
      const [later] = await second;
      assert.ok(first !== undefined && later !== undefined && first < later, 'seqs in commit order');
      await d.worker.dispatch();
      assert.deepEqual((await d.deliveries('w', 'hook')).items.map((x) => x.profileId), ['first', 'second'], 'both turned into deliveries, in order');
    } finally {
      await state.close();
      await db.drop();
    }
  });
});
