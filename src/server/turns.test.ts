import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Turns } from './turns.ts';

/** Keeps the thread busy for `ms` (a batch's work). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('Turns', () => {
  it('grants waiting requests in arrival order', async () => {
    const turns = new Turns();
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((i) => turns.take().then(() => order.push(i))));
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(turns.queued, 0);
  });

  it('lets what arrived during one request\'s work (a timer standing for a read) run before the next request starts', async () => {
    const turns = new Turns();
    const order: string[] = [];
    let read: Promise<void> | undefined;
    const requests = [1, 2, 3].map((i) =>
      turns.take().then(() => {
        order.push(`batch ${i}`);
        // A read arrives during the first batch's work: due 1 ms later, before that work (3 ms) ends.
        if (i === 1) read = new Promise<void>((resolve) => setTimeout(() => (order.push('read'), resolve()), 1));
        busy(3);
      }),
    );
    assert.equal(turns.queued, 3, 'nothing starts at once');
    await Promise.all(requests);
    await read;
    assert.deepEqual(order, ['batch 1', 'read', 'batch 2', 'batch 3']);
  });

  it('without turns, the same timer waits for every request (the behaviour turns remove)', async () => {
    const order: string[] = [];
    let read: Promise<void> | undefined;
    const requests = [1, 2, 3].map((i) =>
      new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        order.push(`batch ${i}`);
        if (i === 1) read = new Promise<void>((resolve) => setTimeout(() => (order.push('read'), resolve()), 1));
        busy(3);
      }),
    );
    await Promise.all(requests);
    await read;
    assert.deepEqual(order, ['batch 1', 'batch 2', 'batch 3', 'read']);
  });
});
