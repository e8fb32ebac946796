/** sum, and the exact micro-unit arithmetic under it: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addMicro, fromMicro, toMicro, toNumber } from './numbers.ts';
import { agg, bytes, fold, inp, JUNK, T0 } from './testing.ts';

describe('toNumber', () => {
  it('accepts finite numbers and numeric strings, nothing else', () => {
    assert.equal(toNumber(1.5), 1.5);
    assert.equal(toNumber(' -2.25 '), -2.25);
    assert.equal(toNumber('1e3'), 1000);
    assert.equal(toNumber('0x10'), 16, 'what Number() reads');
    assert.ok(Object.is(toNumber(-0), 0), '-0 reads as 0: JSON cannot tell them apart');
    for (const j of [NaN, Infinity, -Infinity, '', '  ', 'abc', '1e400', '1,5', null, undefined, true, {}, [1], 10n]) assert.equal(toNumber(j), undefined, String(j));
  });
});

describe('micro-units', () => {
  it('round to 6 decimals, as plain numbers while safe and decimal strings beyond', () => {
    assert.equal(toMicro(1.2345675), 1_234_568);
    assert.equal(toMicro(-0.0000004), 0);
    assert.equal(toMicro(12_345_678_901.5), '12345678901500000');
    assert.equal(toMicro(8_999_983_000_000.5), '8999983000000500000', 'exact even where n × 1e6 is not');
    assert.equal(addMicro(Number.MAX_SAFE_INTEGER, 1), '9007199254740992');
    assert.equal(addMicro('9007199254740992', -1), Number.MAX_SAFE_INTEGER, 'back to a number when safe again');
    assert.equal(fromMicro('-18000000000500001'), -18_000_000_000.500001);
  });
});

describe('sum', () => {
  it('0.1 + 0.2 is exactly 0.3', () => {
    const a = agg({ kind: 'sum', value: 'properties.price' });
    assert.equal(a.value(fold(a, [inp(T0, 0.1), inp(T0, 0.2)]), T0), 0.3);
    assert.equal(a.value(a.merge(fold(a, [inp(T0, 0.1)]), fold(a, [inp(T0, 0.2)])), T0), 0.3);
  });

  it('is exact to 6 decimals and rounds beyond', () => {
    const a = agg({ kind: 'sum', value: 'v' });
    const s = fold(a, Array.from({ length: 10 }, () => inp(T0, 0.000001)));
    assert.equal(a.value(s, T0), 0.00001);
    // 0.0000004 is 0.4 micro-units: rounds to nothing.
    assert.equal(a.value(fold(a, [inp(T0, 1), inp(T0, 0.0000004)]), T0), 1);
    assert.equal(a.value(fold(a, [inp(T0, 1.123456), inp(T0, 2.000001), inp(T0, -0.123457)]), T0), 3);
  });

  it('reads numeric strings, adds negatives and ignores junk', () => {
    const a = agg({ kind: 'sum', value: 'v' });
    const s = fold(a, [inp(T0, '1.5'), inp(T0, -0.25), inp(T0, ' 2 '), ...JUNK.map((j) => inp(T0, j))]);
    assert.equal(a.value(s, T0), 3.25);
    assert.equal(a.value(a.init(), T0), 0);
    assert.equal(bytes(fold(a, JUNK.map((j) => inp(T0, j)))), bytes(a.init()), 'junk leaves the state unchanged');
  });

  it('stays exact past the safe-integer range of micro-units', () => {
    const a = agg({ kind: 'sum', value: 'v' });
    // 9e9 is 9e15 micro-units; twice that is beyond 2^53.
    const s = fold(a, [inp(T0, 9_000_000_000.25), inp(T0, 9_000_000_000.25), inp(T0, 0.000001)]);
    assert.equal(a.value(s, T0), 18_000_000_000.500001);
    assert.equal(bytes(s), '"18000000000500001"');
    const n = fold(a, [inp(T0, -9_000_000_000.25), inp(T0, -9_000_000_000.25)]);
    assert.equal(a.value(n, T0), -18_000_000_000.5);
    // Back into the safe range: a plain number again, the same bytes as a sum that never left it.
    const back = fold(a, [inp(T0, 9_000_000_000), inp(T0, 9_000_000_000), inp(T0, -9_000_000_000), inp(T0, -8_999_999_999)]);
    assert.equal(bytes(back), bytes(fold(a, [inp(T0, 1)])));
  });
});
