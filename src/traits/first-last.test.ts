/** first and last: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY } from '../core/clock.ts';
import { agg, bytes, fold, inp, T0 } from './testing.ts';

describe('first and last', () => {
  const events = [
    inp(T0 + 200, 'B', { id: 'b' }),
    inp(T0 + 100, 'Z', { id: 'z' }),
    inp(T0 + 100, 'A', { id: 'a' }),
    inp(T0 + 300, 'C2', { id: 'c2' }),
    inp(T0 + 300, 'C1', { id: 'c1' }),
    inp(T0 + 50, undefined, { id: 'u' }), // no value: ignored
    inp(T0 + 400, undefined, { id: 'u2' }),
  ];
  it('first is the value of the earliest event, ties by messageId', () => {
    const a = agg({ kind: 'first', value: 'v' });
    assert.equal(a.value(a.init(), T0), null);
    assert.equal(a.value(fold(a, events), T0), 'A');
    assert.equal(a.value(fold(a, [...events].reverse()), T0), 'A');
  });
  it('last is the value of the latest event, ties by messageId', () => {
    const a = agg({ kind: 'last', value: 'v' });
    assert.equal(a.value(a.init(), T0), null);
    assert.equal(a.value(fold(a, events), T0), 'C2');
    assert.equal(a.value(fold(a, [...events].reverse()), T0), 'C2');
  });
  it('arrival order does not matter: a late-arriving older event does not replace last', () => {
    const a = agg({ kind: 'last', value: 'v' });
    const s = fold(a, [inp(T0 + DAY, 'new', { id: 'n' }), inp(T0, 'old', { id: 'o' })]);
    assert.equal(a.value(s, T0), 'new');
  });
  it('keeps any JSON value, null included, and merge picks by event time', () => {
    const f = agg({ kind: 'first', value: 'v' });
    const l = agg({ kind: 'last', value: 'v' });
    const x = fold(f, [inp(T0 + 5, { plan: 'pro' }, { id: 'x' })]);
    const y = fold(f, [inp(T0 + 1, null, { id: 'y' })]);
    assert.equal(f.value(f.merge(x, y), T0), null);
    assert.deepEqual(l.value(l.merge(y, x), T0), { plan: 'pro' });
  });
  it('equal (time, messageId) with different values: the state does not depend on order', () => {
    for (const kind of ['first', 'last']) {
      const a = agg({ kind, value: 'v' });
      const x = inp(T0, 1, { id: 'same' });
      const y = inp(T0, 2, { id: 'same' });
      assert.equal(bytes(fold(a, [x, y])), bytes(fold(a, [y, x])), kind);
      assert.equal(bytes(a.merge(fold(a, [x]), fold(a, [y]))), bytes(a.merge(fold(a, [y]), fold(a, [x]))), `${kind} merge`);
    }
  });
  it('stores objects with sorted keys, so equal content is equal bytes', () => {
    const a = agg({ kind: 'last', value: 'v' });
    const s1 = fold(a, [inp(T0, { b: 1, a: { d: 2, c: 3 } }, { id: 'm' })]);
    const s2 = fold(a, [inp(T0, { a: { c: 3, d: 2 }, b: 1 }, { id: 'm' })]);
    assert.equal(bytes(s1), '{"t":1710028800000,"id":"m","v":{"a":{"c":3,"d":2},"b":1}}');
    assert.equal(bytes(s2), bytes(s1));
  });
  it('merge returns a fresh state: adding to it leaves the arguments alone', () => {
    const a = agg({ kind: 'first', value: 'v' });
    const x = fold(a, [inp(T0 + 10, 'x', { id: 'x' })]);
    const before = bytes(x);
    a.add(a.merge(x, a.init()), inp(T0, 'earlier', { id: 'e' }));
    assert.equal(bytes(x), before);
  });
});
