import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonLongerThan } from './message-size.ts';

const exact = (v: unknown, limit: number) => Buffer.byteLength(JSON.stringify(v) ?? '') > limit;

describe('jsonLongerThan (the message size limit)', () => {
  it('answers exactly as measuring JSON.stringify would, for any JSON value and limit', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 4000 }), (v, limit) => {
        assert.equal(jsonLongerThan(v, limit), exact(v, limit));
      }),
      { numRuns: 2000 },
    );
  });

  it('is exact at the edge: escapes, non-ASCII text, numbers whose JSON is longer than their source', () => {
    const values: unknown[] = [
      { s: '\u0001\u001f"\\' },
      { s: '用户画像'.repeat(50) },
      { s: '😀'.repeat(40) },
      JSON.parse('{"n":[1e20,9e20,-1.2345678901234567e-308,1e400]}'),
      { a: [null, true, false, 0, -0, NaN] },
      { nested: { deeper: [{ x: 'y' }] } },
    ];
    for (const v of values) {
      const size = Buffer.byteLength(JSON.stringify(v));
      for (const limit of [0, size - 1, size, size + 1]) assert.equal(jsonLongerThan(v, limit), size > limit, `${JSON.stringify(v).slice(0, 40)} at ${limit}`);
    }
  });

  it('measures values that are not plain JSON data the way JSON.stringify does', () => {
    const d = new Date(0);
    assert.equal(jsonLongerThan({ d }, 10), exact({ d }, 10));
    assert.equal(jsonLongerThan({ d }, 40), exact({ d }, 40));
    assert.throws(() => jsonLongerThan({ big: 1n }, 1), TypeError, 'a BigInt cannot be serialised, as before');
  });
});
