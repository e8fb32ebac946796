import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LruCache } from './cache.ts';

describe('LruCache', () => {
  it('evicts the least recently used entries down to the bound', () => {
    const c = new LruCache<number>(2);
    c.set('w', 'a', 1);
    c.set('w', 'b', 2);
    assert.equal(c.get('w', 'a'), 1); // a is now the most recent
    c.set('w', 'c', 3);
    c.trim();
    assert.equal(c.size, 2);
    assert.equal(c.peek('w', 'b'), undefined);
    assert.equal(c.peek('w', 'a'), 1);
    assert.equal(c.peek('w', 'c'), 3);
  });

  it('keeps workspaces apart', () => {
    const c = new LruCache<string>(10);
    c.set('one', 'k', 'x');
    c.set('two', 'k', 'y');
    assert.equal(c.peek('one', 'k'), 'x');
    assert.equal(c.peek('two', 'k'), 'y');
    c.delete('one', 'k');
    assert.equal(c.peek('one', 'k'), undefined);
    assert.equal(c.size, 1);
  });

  it('never holds more than the bound after trim, and counts exactly, for any operations', () => {
    const op = fc.record({ kind: fc.constantFrom('set', 'delete', 'get'), ws: fc.constantFrom('a', 'b', 'c'), key: fc.integer({ min: 0, max: 20 }).map(String) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 100 }), (bound, ops) => {
        const c = new LruCache<number>(bound);
        const model = new Map<string, number>();
        ops.forEach((o, i) => {
          if (o.kind === 'set') {
            c.set(o.ws, o.key, i);
            model.set(`${o.ws}/${o.key}`, i);
          } else if (o.kind === 'delete') {
            c.delete(o.ws, o.key);
            model.delete(`${o.ws}/${o.key}`);
          } else assert.equal(c.get(o.ws, o.key), model.get(`${o.ws}/${o.key}`));
        });
        assert.equal(c.size, model.size);
        c.trim();
        assert.ok(c.size <= bound, 'within the bound');
        assert.equal(c.size, Math.min(bound, model.size));
      }),
    );
  });
});
