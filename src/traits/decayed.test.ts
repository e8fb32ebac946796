/** decayed: worked examples, including value(now) at chosen nows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import type { PortraitEvent } from '../core/event.ts';
import { compileTrait, validateTraitDefinition } from './index.ts';
import fc from 'fast-check';
import type { DecayedState } from './decayed.ts';
import { fromMicro, round6 } from './numbers.ts';
import { agg, bytes, fold, inp, JUNK, MIN, T0 } from './testing.ts';

describe('decayed', () => {
  it('a score halves after each half-life', () => {
    const a = agg({ kind: 'decayed', key: 'properties.category', halfLife: '1d' });
    const s = fold(a, [inp(T0, undefined, { key: 'shoes' }), inp(T0, undefined, { key: 'shoes' }), inp(T0, undefined, { key: 'hats' })]);
    assert.deepEqual(a.value(s, T0), { shoes: 2, hats: 1 });
    assert.deepEqual(a.value(s, T0 + DAY), { shoes: 1, hats: 0.5 });
    assert.deepEqual(a.value(s, T0 + 2 * DAY), { shoes: 0.5, hats: 0.25 });
    assert.deepEqual(a.value(s, T0 + 12 * HOUR), { shoes: 1.414214, hats: 0.707107 });
  });

  it('weights per event name apply (through compileTrait)', () => {
    const def = validateTraitDefinition({
      name: 'interest',
      kind: 'decayed',
      key: 'properties.category',
      halfLife: '7d',
      weights: { 'Order Completed': 5, 'Product Viewed': 1, Ignored: 0 },
    });
    const t = compileTrait(def);
    const ev = (event: string, category: string, id: string): PortraitEvent => ({
      type: 'track', workspace: 'w', messageId: id, userId: 'u', event, properties: { category }, timestamp: T0, receivedAt: T0,
    });
    let s = t.aggregator.init();
    for (const e of [ev('Order Completed', 'shoes', '1'), ev('Product Viewed', 'hats', '2'), ev('Product Viewed', 'hats', '3'), ev('Cart Viewed', 'socks', '4'), ev('Ignored', 'hats', '5')]) {
      const x = t.input(e);
      assert.ok(x !== undefined, 'x !== undefined');
      s = t.aggregator.add(s, x);
    }
    assert.deepEqual(t.aggregator.value(s, T0), { shoes: 5, hats: 2, socks: 1 });
    assert.deepEqual(t.aggregator.value(s, T0 + 7 * DAY), { shoes: 2.5, hats: 1, socks: 0.5 });
  });

  it('with a value path, adds weight x value; junk values are ignored; k keeps the top scores', () => {
    const a = agg({ kind: 'decayed', key: 'k', value: 'v', halfLife: '2h', k: 2 });
    const s = fold(a, [
      inp(T0, 10, { key: 'a', weight: 2 }),
      inp(T0, '3', { key: 'b' }),
      inp(T0, 'junk', { key: 'c' }),
      inp(T0, 1, { key: 'd' }),
      inp(T0, 5, { key: undefined }),
    ]);
    assert.deepEqual(a.value(s, T0), { a: 20, b: 3 });
    assert.deepEqual(a.value(s, T0 + 2 * HOUR), { a: 10, b: 1.5 });
    const all = agg({ kind: 'decayed', key: 'k', value: 'v', halfLife: '2h' });
    assert.deepEqual(Object.keys(all.value(fold(all, [inp(T0, 1, { key: 'x' }), inp(T0, 1, { key: 'y' }), inp(T0, 2, { key: 'z' })]), T0) as object), ['z', 'x', 'y']);
  });

  it('sums events in different buckets, each decaying from its bucket start', () => {
    const a = agg({ kind: 'decayed', key: 'k', halfLife: '1h' });
    const s = fold(a, [inp(T0, undefined, { key: 'x' }), inp(T0 + HOUR + 20 * MIN, undefined, { key: 'x' })]);
    // 1 * 2^-2 + 1 * 2^-1 at T0 + 2h (the second event counts from its bucket start T0 + 1h)
    assert.deepEqual(a.value(s, T0 + 2 * HOUR), { x: 0.75 });
  });

  it('keys named like Object.prototype members are scored and Object.prototype is untouched', () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype);
    const objectBefore = Object.getOwnPropertyNames(Object);
    try {
      const a = agg({ kind: 'decayed', key: 'k', halfLife: '1d' });
      const s = fold(a, [inp(T0, undefined, { key: '__proto__' }), inp(T0, undefined, { key: 'constructor' }), inp(T0, undefined, { key: 'a' })]);
      const leaked = [
        ...Object.getOwnPropertyNames(Object.prototype).filter((k) => !protoBefore.includes(k)),
        ...Object.getOwnPropertyNames(Object).filter((k) => !objectBefore.includes(k)),
      ];
      assert.deepEqual(leaked, [], 'no property added to Object.prototype or Object');
      const v = a.value(s, T0) as Record<string, number>;
      assert.deepEqual(Object.entries(v).sort(), [['__proto__', 1], ['a', 1], ['constructor', 1]]);
    } finally {
      for (const k of Object.getOwnPropertyNames(Object.prototype)) if (!protoBefore.includes(k)) delete (Object.prototype as Record<string, unknown>)[k];
      for (const k of Object.getOwnPropertyNames(Object)) if (!objectBefore.includes(k)) delete (Object as unknown as Record<string, unknown>)[k];
    }
  });
});

describe('decayed: bounds and canonical form', () => {
  it('drops buckets older than 40 half-lives before the newest event, and keys left empty', () => {
    const a = agg({ kind: 'decayed', key: 'k', halfLife: '1h' });
    const s = fold(a, [inp(T0, undefined, { key: 'old' }), inp(T0 + 40 * HOUR, undefined, { key: 'new' })]) as { k: unknown[] };
    assert.equal(s.k.length, 2, 'the bucket of T0 is exactly 40 half-lives old: kept');
    const later = a.add(s, inp(T0 + 41 * HOUR, undefined, { key: 'new' })) as { k: Array<[string, unknown]> };
    assert.deepEqual(later.k.map(([k]) => k), ['new']);
    // An event already too old is not stored at all.
    assert.equal(bytes(a.add(structuredClone(later), inp(T0, undefined, { key: 'late' }))), bytes(later));
  });

  it('keys in sorted order and junk ignored, whatever the arrival order', () => {
    const a = agg({ kind: 'decayed', key: 'k', value: 'v', halfLife: '1d' });
    const xs = [inp(T0 + HOUR, 2, { key: 'b' }), inp(T0, 1, { key: '10' }), inp(T0, 1, { key: '9' }), ...JUNK.map((j) => inp(T0, j, { key: 'j' }))];
    const s = fold(a, xs);
    assert.equal(bytes(s), `{"k":[["10",[[${T0 / HOUR},1000000]]],["9",[[${T0 / HOUR},1000000]]],["b",[[${T0 / HOUR + 1},2000000]]]],"m":${T0 + HOUR}}`);
    assert.equal(bytes(fold(a, [...xs].reverse())), bytes(s));
  });
});

describe('decayed: value', () => {
  /** The value as a plain reading of the definition: every key's score, sorted by score then key, the top k. */
  function reference(s: DecayedState, now: number, halfLife: number, bucket: number, k?: number): Array<[string, number]> {
    const scores = s.k.map(([key, buckets]): [string, number] => [key, round6(buckets.reduce((sum, [b, amount]) => sum + fromMicro(amount) * 2 ** (-(now - b * bucket) / halfLife), 0))]);
    scores.sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : 1));
    return scores.slice(0, k ?? scores.length);
  }

  it('is every key with its score, highest first, ties by key, cut at k (property, including "__proto__" and keys of equal scores)', () => {
    const key = fc.constantFrom('a', 'b', 'c', '10', '9', '__proto__', 'constructor', 'toString');
    const input = fc.record({ hour: fc.integer({ min: 0, max: 24 * 30 }), key, weight: fc.constantFrom(0, 1, 1, 3, 10), value: fc.constantFrom(1, 2.5, -1, 0) });
    fc.assert(
      fc.property(fc.array(input, { maxLength: 30 }), fc.integer({ min: -48, max: 24 * 40 }), fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), (xs, nowHour, k) => {
        const a = agg({ kind: 'decayed', key: 'k', value: 'v', halfLife: '2d', ...(k !== undefined && { k }) });
        const s = fold(a, xs.map((x) => inp(T0 + x.hour * HOUR + 17 * MIN, x.value, { key: x.key, weight: x.weight }))) as DecayedState;
        const now = T0 + nowHour * HOUR;
        const value = a.value(s, now) as Record<string, number>;
        // Built key by key in that order (an object lists integer-like keys first whatever the order).
        const want = Object.fromEntries(reference(s, now, 2 * DAY, HOUR, k));
        assert.deepEqual(Object.entries(value), Object.entries(want));
        // Byte for byte as the history stores it.
        assert.equal(JSON.stringify(value), JSON.stringify(want));
      }),
      { numRuns: 500 },
    );
  });
});
