/** min and max: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agg, fold, inp, JUNK, T0 } from './testing.ts';

describe('min and max', () => {
  const values = [3, '-2.5', 'abc', null, 10, { n: -100 }, true, '1e1', '  ', -0.5, [-50], 'Infinity'];
  it('min ignores junk', () => {
    const a = agg({ kind: 'min', value: 'v' });
    assert.equal(a.value(a.init(), T0), null);
    assert.equal(a.value(fold(a, values.map((v) => inp(T0, v))), T0), -2.5);
    assert.equal(a.value(fold(a, JUNK.map((j) => inp(T0, j))), T0), null);
  });
  it('max ignores junk', () => {
    const a = agg({ kind: 'max', value: 'v' });
    assert.equal(a.value(a.init(), T0), null);
    assert.equal(a.value(fold(a, values.map((v) => inp(T0, v))), T0), 10);
    assert.equal(a.value(fold(a, [inp(T0, -7), inp(T0, '-3'), inp(T0, 'x')]), T0), -3);
  });
  it('merge keeps the extreme and treats null as no value', () => {
    const mn = agg({ kind: 'min', value: 'v' });
    const mx = agg({ kind: 'max', value: 'v' });
    assert.equal(mn.value(mn.merge(5, null), T0), 5);
    assert.equal(mn.value(mn.merge(null, -1), T0), -1);
    assert.equal(mn.value(mn.merge(5, -1), T0), -1);
    assert.equal(mx.value(mx.merge(5, -1), T0), 5);
    assert.equal(mx.value(mx.merge(null, null), T0), null);
  });
  it('0 and -0 are one value', () => {
    const mn = agg({ kind: 'min', value: 'v' });
    assert.ok(Object.is(mn.value(fold(mn, [inp(T0, 0), inp(T0, -0)]), T0), 0), 'Object.is(mn.value(fold(mn, [inp(T0, 0), inp(T0, -0)]), T0), 0)');
    assert.ok(Object.is(mn.value(fold(mn, [inp(T0, -0), inp(T0, 0)]), T0), 0), 'Object.is(mn.value(fold(mn, [inp(T0, -0), inp(T0, 0)]), T0), 0)');
  });
});
