/** top: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agg, bytes, fold, inp, T0 } from './testing.ts';

describe('top', () => {
  const keys = ['a', 'b', 'c', 'a', 'd', 'c', 'b', 'a', undefined, 'e'];
  const events = keys.map((k) => inp(T0, undefined, { key: k }));
  it('orders by count, then key, and keeps k', () => {
    const a2 = agg({ kind: 'top', key: 'properties.category', k: 2 });
    assert.deepEqual(a2.value(a2.init(), T0), []);
    assert.deepEqual(a2.value(fold(a2, events), T0), [
      { key: 'a', count: 3 },
      { key: 'b', count: 2 },
    ]);
    const a4 = agg({ kind: 'top', key: 'properties.category', k: 4 });
    assert.deepEqual(a4.value(fold(a4, events), T0), [
      { key: 'a', count: 3 },
      { key: 'b', count: 2 },
      { key: 'c', count: 2 },
      { key: 'd', count: 1 },
    ]);
  });
  it('defaults to k = 5 and merges counts exactly', () => {
    const a = agg({ kind: 'top', key: 'k' });
    const m = a.merge(fold(a, events.slice(0, 5)), fold(a, events.slice(5)));
    assert.deepEqual(a.value(m, T0), [
      { key: 'a', count: 3 },
      { key: 'b', count: 2 },
      { key: 'c', count: 2 },
      { key: 'd', count: 1 },
      { key: 'e', count: 1 },
    ]);
    assert.deepEqual(m, [['a', 3], ['b', 2], ['c', 2], ['d', 1], ['e', 1]]);
  });
  it('counts keys that are names of Object.prototype members like any other key', () => {
    const a = agg({ kind: 'top', key: 'k', k: 10 });
    const s = fold(a, ['constructor', 'constructor', 'toString', 'valueOf', 'a'].map((k) => inp(T0, undefined, { key: k })));
    assert.deepEqual(a.value(s, T0), [
      { key: 'constructor', count: 2 },
      { key: 'a', count: 1 },
      { key: 'toString', count: 1 },
      { key: 'valueOf', count: 1 },
    ]);
  });
});

describe('top: canonical state', () => {
  it('is sorted by key whatever the arrival order, digit-only keys included', () => {
    const a = agg({ kind: 'top', key: 'k' });
    const keys = ['b', '10', '9', '__proto__', 'a', '10'];
    const s1 = fold(a, keys.map((k) => inp(T0, undefined, { key: k })));
    const s2 = fold(a, [...keys].reverse().map((k) => inp(T0, undefined, { key: k })));
    assert.equal(bytes(s1), '[["10",2],["9",1],["__proto__",1],["a",1],["b",1]]');
    assert.equal(bytes(s2), bytes(s1));
  });
});
