import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { TEN_TRAITS, workload } from './support/workload.ts';

describe('rebuild', () => {
  it('rebuilt state equals incremental state on 100,000 events with merges, late events, duplicates and unmerges', async () => {
    const { dir, cleanup } = tempDir();
    const clock = new ManualClock(T0);
    const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: [...TEN_TRAITS], identity: { hashKey: 'ab'.repeat(32) } }, { clock });
    try {
      let batch: unknown[] = [];
      let sent = 0;
      let unmerges = 0;
      for (const m of workload({ events: 100_000, users: 5_000, seed: 7, start: T0 - 30 * 86_400_000 })) {
        batch.push(m);
        if (batch.length === 1000) {
          await p.ingest(batch);
          sent += batch.length;
          batch = [];
          // Now and then, an operator unmerges a profile's first link.
          if (sent % 20_000 === 0) {
            await p.drain();
            const links = await p.links('user_id', `u${sent / 1000}`).catch(() => []);
            if (links.length > 0) {
              await p.unmerge(links[0]!.a, links[0]!.b);
              unmerges++;
            }
          }
        }
      }
      await p.ingest(batch);
      await p.drain();
      const incremental = await p.stateDump();
      assert.ok(incremental.filter((l) => l.startsWith('merges ')).length > 100, 'the workload produces merges');
      assert.ok(unmerges > 0, 'the workload includes unmerges');
      assert.ok(incremental.filter((l) => l.startsWith('identity_conflicts ')).length > 0, 'the workload produces refused links');
      await p.rebuild();
      const rebuilt = await p.stateDump();
      assert.equal(rebuilt.length, incremental.length);
      for (let i = 0; i < rebuilt.length; i++) if (rebuilt[i] !== incremental[i]) assert.equal(rebuilt[i], incremental[i], `line ${i} differs`);
    } finally {
      await p.close();
      cleanup();
    }
  });
});

type EngineSizes = { cacheProfiles: number; batchSize: number; rebuildBatchSize: number };

/** Asserts that the same 20,000 events, sent 700 at a time, leave the same state with either engine options. */
async function sameState(a: EngineSizes, b: EngineSizes): Promise<void> {
  const x = await dumpAfterWorkload(a);
  assert.ok(x.length > 1000, 'x.length > 1000');
  assert.deepEqual(await dumpAfterWorkload(b), x);
}

/** The state dump after 20,000 events sent 700 at a time with these engine options. */
async function dumpAfterWorkload(engine: EngineSizes): Promise<string[]> {
  const { dir, cleanup } = tempDir();
  const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: [...TEN_TRAITS], identity: { hashKey: 'ab'.repeat(32) }, engine }, { clock: new ManualClock(T0) });
  try {
    const all = [...workload({ events: 20_000, users: 3_000, seed: 3, start: T0 - 10 * 86_400_000 })];
    for (let i = 0; i < all.length; i += 700) await p.ingest(all.slice(i, i + 700));
    await p.drain();
    return await p.stateDump();
  } finally {
    await p.close();
    cleanup();
  }
}

describe('hot-profile cache', () => {
  it('a cache far smaller than the working set gives exactly the same state', async () => {
    // Small transactions even when the engine falls behind: the cache is trimmed after each commit.
    await sameState({ cacheProfiles: 100, batchSize: 500, rebuildBatchSize: 500 }, { cacheProfiles: 100_000, batchSize: 500, rebuildBatchSize: 500 });
  });
});

describe('catching up', () => {
  it('transactions of up to engine.rebuildBatchSize when behind give exactly the same state as small ones', async () => {
    await sameState({ cacheProfiles: 100_000, batchSize: 300, rebuildBatchSize: 300 }, { cacheProfiles: 100_000, batchSize: 300, rebuildBatchSize: 20_000 });
  });
});
