/** count: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agg, fold, inp, JUNK, T0 } from './testing.ts';

describe('count', () => {
  it('counts every matching event, whatever its value', () => {
    const a = agg({ kind: 'count' });
    assert.equal(a.value(a.init(), T0), 0);
    assert.equal(a.value(fold(a, [inp(T0), inp(T0, 'x'), inp(T0 + 1, null), ...JUNK.map((j) => inp(T0, j))]), T0), 3 + JUNK.length);
    assert.equal(a.value(a.merge(fold(a, [inp(T0)]), fold(a, [inp(T0), inp(T0)])), T0), 3);
  });
});
