import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pooledRandom } from './random-pool.ts';

describe('pooledRandom', () => {
  it('never hands out the same bytes twice: views of one pool do not overlap, across refills', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 200 }), (sizes) => {
        const seen = new Map<ArrayBufferLike, Array<[number, number]>>();
        for (const n of sizes) {
          const b = pooledRandom(n);
          assert.equal(b.length, n);
          const ranges = seen.get(b.buffer) ?? [];
          for (const [from, to] of ranges) assert.ok(b.byteOffset >= to || b.byteOffset + n <= from, 'overlapping draws');
          ranges.push([b.byteOffset, b.byteOffset + n]);
          seen.set(b.buffer, ranges);
        }
      }),
    );
  });

  it('gives distinct IV-sized draws, and refuses a draw larger than the pool', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 5000; i++) ivs.add(pooledRandom(12).toString('hex'));
    assert.equal(ivs.size, 5000);
    assert.throws(() => pooledRandom(5000), /at most 4092/);
  });
});
