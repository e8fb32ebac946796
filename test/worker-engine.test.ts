import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Portrait } from '../src/index.ts';
import { tempDir } from './support/open.ts';

describe('engine in a worker thread (file-backed instances)', () => {
  it('drain resolves at once on an empty log', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir });
    try {
      await p.drain();
      assert.deepEqual(p.positions(), { log: 0, engine: 0 });
    } finally {
      await p.close();
      cleanup();
    }
  });

  it('folds events, backfills a new trait version, and survives a reopen', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = await Portrait.open({ dataDir: dir, engine: { backfillChunk: 100 } });
      await p.ingest(Array.from({ length: 500 }, (_, i) => ({ type: 'track', userId: `u${i % 5}`, event: 'Order Completed', properties: { price: 2 }, messageId: `m${i}` })));
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.eventCount, 100);
      await p.setTraits([{ name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' }]);
      await p.ingest([{ type: 'track', userId: 'u1', event: 'Order Completed', properties: { price: 0.5 }, messageId: 'late' }]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.traits.revenue, 200.5);
      assert.equal((await p.traitDefinitions())[0]?.status, 'live');
      await p.close();

      const again = await Portrait.open({ dataDir: dir, traits: [{ name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' }] });
      await again.drain();
      assert.equal((await again.profile('user_id', 'u1'))?.traits.revenue, 200.5);
      assert.equal((await again.traitDefinitions())[0]?.version, 1, 'an unchanged definition keeps its version');
      await again.close();
    } finally {
      cleanup();
    }
  });
});
