import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RecordCache } from './record-cache.ts';

describe('RecordCache', () => {
  it('keeps the latest payloads within its budget, oldest out first, and forgets a deleted one', () => {
    const c = new RecordCache(10);
    c.put(1, 'aaaa');
    c.put(2, 'bbbb');
    c.put(3, 'cccc');
    assert.equal(c.get(1), undefined, 'the oldest went to make room');
    assert.deepEqual([c.get(2), c.get(3)], ['bbbb', 'cccc']);
    c.delete(2);
    assert.equal(c.get(2), undefined);
    assert.deepEqual(c.stats(), { records: 1, chars: 4 });
    c.put(4, 'x'.repeat(11));
    assert.equal(c.get(4), undefined, 'a payload larger than the budget is not kept');
    assert.equal(c.get(3), 'cccc', 'and evicts nothing');
  });

  it('never holds more than its budget, and what it returns is what was put at that position (property)', () => {
    const op = fc.oneof(
      fc.record({ put: fc.integer({ min: 1, max: 50 }), text: fc.string({ maxLength: 12 }) }),
      fc.record({ del: fc.integer({ min: 1, max: 50 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.array(op, { maxLength: 200 }), (budget, ops) => {
        const c = new RecordCache(budget);
        // What was put at each position while it stayed in (a put over a payload held changes nothing).
        const model = new Map<number, string>();
        for (const o of ops) {
          if ('put' in o) {
            const held = c.get(o.put) !== undefined;
            c.put(o.put, o.text);
            if (!held && c.get(o.put) !== undefined) model.set(o.put, o.text);
          } else c.delete(o.del);
          for (const p of [...model.keys()]) if (c.get(p) === undefined) model.delete(p);
          assert.ok(c.stats().chars <= budget, 'within the budget');
          assert.equal(c.stats().records, model.size);
          for (let p = 1; p <= 50; p++) assert.equal(c.get(p), model.get(p), 'the payload put at that position, or none');
        }
      }),
    );
  });
});
