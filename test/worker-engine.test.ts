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

  for (const commitThread of [false, true]) {
    it(`folds events, backfills a new trait version, and survives a reopen (engine.commitThread ${commitThread})`, async () => {
      const { dir, cleanup } = tempDir();
      try {
        const p = await Portrait.open({ dataDir: dir, engine: { backfillChunk: 100, commitThread } });
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
  }

  it('keeps trait definitions made over the API across restarts; the configuration file owns its own names', async () => {
    const { dir, cleanup } = tempDir();
    const orders = { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } };
    const revenue = { name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' };
    try {
      const p = await Portrait.open({ dataDir: dir, traits: [orders] });
      await p.ingest(Array.from({ length: 10 }, (_, i) => ({ type: 'track', userId: 'u', event: 'Order Completed', properties: { price: 3 }, messageId: `m${i}` })));
      assert.deepEqual(await p.putTrait(revenue), { created: true }, 'a new API trait');
      await assert.rejects(p.putTrait({ ...orders, filter: { event: 'Other' } }), /PORTRAIT_TRAIT_FROM_CONFIG|configuration file/, 'the file owns "orders"');
      await p.drain();
      assert.equal((await p.profile('user_id', 'u'))?.traits.revenue, 30, 'the API trait is computed');
      await p.close();

      // Restart with the same file: the API trait is still there, unchanged (no new version, no backfill).
      const again = await Portrait.open({ dataDir: dir, traits: [orders] });
      await again.drain();
      const defs = await again.traitDefinitions();
      assert.deepEqual(defs.map((d) => [d.name, d.source, d.version]), [['orders', 'config', 1], ['revenue', 'api', 1]], 'both kept, each with its source');
      assert.equal((await again.profile('user_id', 'u'))?.traits.revenue, 30, 'its values too');
      await again.close();

      // The file now defines "revenue" the same way: it takes the name over, keeping the version.
      const third = await Portrait.open({ dataDir: dir, traits: [orders, revenue] });
      assert.deepEqual((await third.traitDefinitions()).map((d) => [d.name, d.source, d.version]), [['orders', 'config', 1], ['revenue', 'config', 1]], 'taken over');
      await assert.rejects(third.deleteTrait('revenue'), /PORTRAIT_TRAIT_FROM_CONFIG|configuration file/, 'and the API can no longer delete it');
      await third.close();

      // Dropped from the file: a configuration trait goes away at the next start.
      const fourth = await Portrait.open({ dataDir: dir, traits: [orders] });
      assert.deepEqual((await fourth.traitDefinitions()).map((d) => d.name), ['orders'], 'removed with the file');
      await fourth.close();
    } finally {
      cleanup();
    }
  });
});
