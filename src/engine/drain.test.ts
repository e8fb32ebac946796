import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { systemClock } from '../core/clock.ts';
import type { PortraitEvent } from '../core/event.ts';
import { consentPolicyOf, resolveConfig } from '../config/index.ts';
import { SqliteEventLog } from '../log/index.ts';
import { SqliteStore, type StateStore } from '../storage/index.ts';
import { Definitions } from './definitions.ts';
import { Engine } from './engine.ts';
import { engineOptions } from './options.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store whose commits land a while after they are made, as on another thread or server. */
function slowCommits(store: SqliteStore): StateStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'commit') return async (c: Parameters<StateStore['commit']>[0]) => (await sleep(20), target.commit(c));
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as StateStore;
}

function order(i: number): PortraitEvent {
  return { type: 'track', event: 'Order Completed', userId: `u${i % 7}`, messageId: `m${i}`, timestamp: 1_000 + i, receivedAt: 1_000 + i, workspace: 'default', properties: {} } as unknown as PortraitEvent;
}

describe('Engine.drain', () => {
  it('resolves only once a backfill is in the store, not when memory is ahead of a commit on its way', async () => {
    const config = resolveConfig({ traits: [] });
    const log = new SqliteEventLog({ file: ':memory:' });
    const store = new SqliteStore({ file: ':memory:' });
    const definitions = new Definitions({ setOnce: new Set(), types: {} }, consentPolicyOf(config));
    const engine = new Engine({ ...engineOptions(config, { log, store: slowCommits(store), definitions, clock: systemClock, hashKey: Buffer.alloc(32) }), backfillChunk: 100 });
    await log.append(Array.from({ length: 1000 }, (_, i) => order(i)));
    await engine.start();
    await engine.drain();
    // A new trait backfills over the 1,000 events in chunks, each committed after a delay.
    const { save } = definitions.reconcile([{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }], engine.committedPosition(), Date.now());
    await store.saveDefinitions(save);
    engine.kick();
    // Drains asked at every moment of the backfill, commits in flight included: each resolves with it stored.
    const seen: Array<string | undefined> = [];
    const asked: Promise<void>[] = [];
    for (let k = 0; k < 100; k++) {
      asked.push(engine.drain().then(async () => void seen.push((await store.definitions()).find((d) => d.name === 'orders')?.status)));
      await sleep(2);
    }
    await Promise.all(asked);
    assert.deepEqual(new Set(seen), new Set(['live']), 'every drain resolved with the backfill stored');
    await engine.stop();
  });
});
