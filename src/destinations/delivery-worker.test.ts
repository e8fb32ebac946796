import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DeliveryWorker } from './delivery-worker.ts';
import type { Destination } from './destination.ts';
import type { DestinationStore } from './destination-store.ts';

const OPTIONS = { maxAttempts: 3, backoffBaseMs: 10, backoffCapMs: 100, timeoutMs: 1000, concurrency: 2, batchSize: 10 };

function destination(id: string, enabled: boolean): Destination {
  return { id, workspace: 'w', url: 'http://127.0.0.1:9/hook', secret: 's', kinds: ['segment.entered'], segments: null, tags: null, enabled, source: 'api', createdAt: 0, updatedAt: 0 };
}

/** The store calls a delivery pass makes, counted; no destination has anything to send. */
function countingStore(list: Destination[]): { store: DestinationStore; passes: () => number; dispatched: string[] } {
  let passes = 0;
  const dispatched: string[] = [];
  const calls = {
    destinations: async () => {
      passes++;
      return list.slice();
    },
    dispatch: async (d: Destination) => {
      dispatched.push(d.id);
      return { scanned: 0, created: 0 };
    },
    claimDue: async () => [],
    nextDueAt: async () => undefined,
  };
  // Only the calls a pass makes: any other would throw, which the tests would see as a failed pass.
  return { store: calls as unknown as DestinationStore, passes: () => passes, dispatched };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('delivery loop after engine commits', () => {
  it('runs a pass per commit while an enabled destination exists', async () => {
    const s = countingStore([destination('a', true)]);
    const w = new DeliveryWorker({ store: s.store, clock: { now: () => 0 }, options: { ...OPTIONS, idleMs: 600_000 } });
    w.start();
    await tick();
    const first = s.passes();
    assert.equal(first, 1, 'the pass at start');
    w.committed();
    await tick();
    w.committed();
    await tick();
    await w.stop();
    assert.equal(s.passes(), first + 2, 'one pass per commit');
    assert.deepEqual(s.dispatched, ['a', 'a', 'a'], 'the enabled destination dispatched each time');
  });

  it('leaves the store alone on commits while no destination is enabled, and starts again once a pass finds one', async () => {
    const list = [destination('off', false)];
    const s = countingStore(list);
    const w = new DeliveryWorker({ store: s.store, clock: { now: () => 0 }, options: { ...OPTIONS, idleMs: 600_000 } });
    w.start();
    await tick();
    assert.equal(s.passes(), 1, 'the pass at start found no enabled destination');
    for (let i = 0; i < 20; i++) w.committed();
    await tick();
    assert.equal(s.passes(), 1, 'commits started no pass');

    list.push(destination('on', true));
    w.wake(); // what making or enabling a destination does
    await tick();
    assert.equal(s.passes(), 2, 'the wake ran a pass, which found the destination');
    w.committed();
    await tick();
    await w.stop();
    assert.equal(s.passes(), 3, 'commits run passes again');
    assert.deepEqual(s.dispatched, ['on', 'on'], 'only the enabled destination is dispatched');
  });

  it('finds a destination another process made on the idle loop, then follows commits', async () => {
    const list: Destination[] = [];
    const s = countingStore(list);
    const w = new DeliveryWorker({ store: s.store, clock: { now: () => 0 }, options: { ...OPTIONS, idleMs: 20 } });
    w.start();
    await tick();
    list.push(destination('elsewhere', true)); // no wake: written by another process
    const deadline = Date.now() + 5_000;
    while (!s.dispatched.includes('elsewhere')) {
      assert.ok(Date.now() < deadline, 'the idle loop found the destination');
      await tick(10);
    }
    await w.stop();
  });

  it('a stopped loop runs nothing on commits', async () => {
    const s = countingStore([destination('a', true)]);
    const w = new DeliveryWorker({ store: s.store, clock: { now: () => 0 }, options: { ...OPTIONS, idleMs: 600_000 } });
    w.committed();
    await tick();
    assert.equal(s.passes(), 0);
  });
});
