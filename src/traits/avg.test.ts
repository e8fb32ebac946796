/** avg: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agg, bytes, fold, inp, JUNK, T0 } from './testing.ts';

describe('avg', () => {
  it('is the mean of numeric values, rounded to 6 decimals', () => {
    const a = agg({ kind: 'avg', value: 'v' });
    assert.equal(a.value(a.init(), T0), null);
    assert.equal(a.value(fold(a, [inp(T0, 1), inp(T0, '2'), inp(T0, 4), inp(T0, 'abc'), inp(T0, null)]), T0), 2.333333);
    assert.equal(a.value(fold(a, [inp(T0, 0.1), inp(T0, 0.2)]), T0), 0.15);
    assert.equal(a.value(fold(a, [inp(T0, -3), inp(T0, 1)]), T0), -1);
    assert.equal(a.value(a.merge(fold(a, [inp(T0, 10)]), fold(a, [inp(T0, 20), inp(T0, 30)])), T0), 20);
  });

  it('ignores junk: the state does not change', () => {
    const a = agg({ kind: 'avg', value: 'v' });
    assert.equal(bytes(fold(a, JUNK.map((j) => inp(T0, j)))), bytes(a.init()));
    assert.equal(a.value(fold(a, JUNK.map((j) => inp(T0, j))), T0), null);
  });
});
