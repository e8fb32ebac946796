/** distinct and its HyperLogLog sketch: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hllAdd, hllEmpty, hllEncode, hllEstimate, hllDecode } from './hll.ts';
import { agg, bytes, fold, inp, T0 } from './testing.ts';

describe('distinct', () => {
  it('counts different values exactly, by their string form, ignoring null and undefined', () => {
    const a = agg({ kind: 'distinct', value: 'v' });
    assert.equal(a.value(a.init(), T0), 0);
    const s = fold(a, ['a', 'b', 'a', 1, '1', null, undefined, true, 'true', { x: 1, y: 2 }, { y: 2, x: 1 }].map((v) => inp(T0, v)));
    // a, b, "1" (1 and "1"), "true" (true and "true"), one object whatever its key order
    assert.equal(a.value(s, T0), 5);
    assert.deepEqual(s, { x: ['1', 'a', 'b', 'true', '{"x":1,"y":2}'] });
  });

  it('switches to a sketch past exactLimit', () => {
    const a = agg({ kind: 'distinct', value: 'v', exactLimit: 5 });
    const five = fold(a, ['a', 'b', 'c', 'd', 'e', 'a'].map((v) => inp(T0, v)));
    assert.ok('x' in (five as object), '\'x\' in (five as object)');
    assert.equal(a.value(five, T0), 5);
    const six = a.add(structuredClone(five), inp(T0, 'f'));
    assert.ok('h' in (six as object), 'six values exceed exactLimit 5');
    assert.equal(a.value(six, T0), 6);
    // Merging two exact halves whose union passes the limit gives the same sketch.
    const left = fold(a, ['a', 'b', 'c'].map((v) => inp(T0, v)));
    const right = fold(a, ['d', 'e', 'f'].map((v) => inp(T0, v)));
    assert.equal(bytes(a.merge(left, right)), bytes(six));
  });

  it('estimates 10,000 distinct values within 3%, and merging overlapping parts gives the union', () => {
    const a = agg({ kind: 'distinct', value: 'v' });
    const xs = Array.from({ length: 10_000 }, (_, i) => inp(T0, `user-${i}@example.com`));
    const s = fold(a, [...xs, ...xs.slice(0, 2000)]);
    assert.ok('h' in (s as object), '\'h\' in (s as object)');
    const est = a.value(s, T0) as number;
    assert.ok(Math.abs(est - 10_000) <= 300, `estimate ${est}`);
    const m = a.merge(fold(a, xs.slice(0, 6000)), fold(a, xs.slice(4000)));
    assert.equal(bytes(m), bytes(s));
  });

  it('adding to a sketch works on a stored copy (the decoded-register cache is only a cache)', () => {
    const a = agg({ kind: 'distinct', value: 'v', exactLimit: 2 });
    const s = fold(a, ['a', 'b', 'c'].map((v) => inp(T0, v)));
    const stored = JSON.parse(bytes(s)) as unknown;
    assert.equal(bytes(a.add(stored, inp(T0, 'd'))), bytes(a.add(s, inp(T0, 'd'))));
    assert.equal(a.value(s, T0), 4);
  });
});

describe('HyperLogLog', () => {
  it('has 2^14 registers, stored as base64', () => {
    const reg = hllEmpty();
    assert.equal(reg.length, 16_384);
    hllAdd(reg, 'x');
    assert.deepEqual(hllDecode(hllEncode(reg)), reg);
    assert.equal(hllEstimate(hllEmpty()), 0);
    assert.equal(hllEstimate(reg), 1);
  });

  it('is within 3% (under 4 standard errors) from a few to 200,000 items', () => {
    for (const n of [10, 1_000, 20_000, 200_000]) {
      const reg = hllEmpty();
      for (let i = 0; i < n; i++) hllAdd(reg, `item-${i}`);
      const est = hllEstimate(reg);
      assert.ok(Math.abs(est - n) <= Math.max(1, 0.03 * n), `n=${n} estimate ${est}`);
    }
  });

  it('reports whether a register changed', () => {
    const reg = hllEmpty();
    assert.equal(hllAdd(reg, 'x'), true);
    assert.equal(hllAdd(reg, 'x'), false);
  });
});
