import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planReads } from './read-plan.ts';

describe('planReads', () => {
  it('reads positions close together in one partition as one range, and scattered or unhinted ones one by one', () => {
    const dense = [100, 104, 108, 112, 116, 120].map((position) => ({ position, partition: 1 }));
    const plan = planReads([...dense, { position: 5 }, { position: 90_000, partition: 1 }], { partitions: 4 });
    assert.deepEqual(plan.ranges, [{ partition: 1, from: 100, to: 120, positions: [100, 104, 108, 112, 116, 120] }]);
    assert.deepEqual(plan.singles, [5, 90_000], 'the unhinted position and the far one are read on their own');
  });

  it('reads nothing for nothing, and a position asked for twice once', () => {
    assert.deepEqual(planReads([], { partitions: 4 }), { ranges: [], singles: [] });
    const twice = planReads([{ position: 7, partition: 0 }, { position: 7, partition: 2 }, { position: 7 }], { partitions: 4 });
    assert.deepEqual(twice, { ranges: [], singles: [7] });
  });

  it('plans every position asked for exactly once, ranges dense and bounded, in position order (property)', () => {
    const wanted = fc.array(fc.record({ position: fc.integer({ min: 1, max: 5_000 }), partition: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }), { maxLength: 300 });
    const opts = fc.record({ partitions: fc.integer({ min: 1, max: 8 }), minRun: fc.integer({ min: 1, max: 6 }), maxWaste: fc.integer({ min: 1, max: 10 }), maxSpan: fc.integer({ min: 1, max: 3_000 }) });
    fc.assert(
      fc.property(wanted, opts, (ws, o) => {
        const plan = planReads(ws, o);
        const planned = [...plan.singles, ...plan.ranges.flatMap((r) => r.positions)].sort((a, b) => a - b);
        assert.deepEqual(planned, [...new Set(ws.map((w) => w.position))].sort((a, b) => a - b), 'each position once');
        assert.ok(plan.singles.every((p, i) => i === 0 || p > plan.singles[i - 1]!), 'singles in order');
        for (const r of plan.ranges) {
          assert.ok(r.positions.every((p, i) => i === 0 || p > r.positions[i - 1]!), 'a range keeps its positions in order');
          assert.equal(r.from, r.positions[0]);
          assert.equal(r.to, r.positions[r.positions.length - 1]);
          assert.ok(r.positions.length >= o.minRun, 'a range holds at least minRun positions');
          assert.ok(r.to - r.from + 1 <= o.maxSpan, 'no wider than maxSpan');
          assert.ok(Math.ceil((r.to - r.from + 1) / o.partitions) <= o.maxWaste * r.positions.length, 'delivers at most maxWaste messages (estimated) per position');
          const first = ws.find((w) => w.position === r.from);
          assert.equal(first?.partition, r.partition, 'read in the partition it was first expected in');
        }
      }),
    );
  });
});
