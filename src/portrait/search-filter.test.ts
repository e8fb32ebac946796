/** The search language's pure parts: string order and the sort order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { satisfies } from './search-filter.ts';
import { compareEntries, compareStrings } from './search-order.ts';

describe('search order and operators', () => {
  it('compares strings by code point, the order of their UTF-8 bytes (what SQLite uses)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        assert.equal(Math.sign(compareStrings(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }),
      { numRuns: 2000 },
    );
    assert.ok(compareStrings('\uffff', '\u{1f600}') < 0, 'a character above U+FFFF sorts after U+FFFF, unlike with <');
  });

  it('puts profiles without a value last in both directions, ties by id', () => {
    const entries = [
      { key: undefined, id: 'a' },
      { key: 2, id: 'b' },
      { key: 'x', id: 'c' },
      { key: 2, id: 'a' },
      { key: null, id: 'b' },
    ];
    const asc = [...entries].sort((x, y) => compareEntries(x, y, false)).map((e) => `${String(e.key)}/${e.id}`);
    const desc = [...entries].sort((x, y) => compareEntries(x, y, true)).map((e) => `${String(e.key)}/${e.id}`);
    assert.deepEqual(asc, ['2/a', '2/b', 'x/c', 'undefined/a', 'null/b'], 'numbers, strings, then no value');
    assert.deepEqual(desc, ['x/c', '2/a', '2/b', 'undefined/a', 'null/b'], 'reversed, no value still last, ties still by id');
  });

  it('treats absent and null alike as "no value"', () => {
    assert.equal(satisfies(undefined, 'eq', null), true, 'absent eq null');
    assert.equal(satisfies(undefined, 'ne', 'Lima'), true, 'absent ne a value');
    assert.equal(satisfies(null, 'exists', true), false, 'null does not exist');
    assert.equal(satisfies(0, 'exists', true), true, 'zero exists');
    assert.equal(satisfies('41', 'gt', 40), false, 'a string is not compared with a number');
    assert.equal(satisfies({ a: 1, b: 2 }, 'eq', { b: 2, a: 1 }), true, 'objects compare by content, not key order');
  });
});
