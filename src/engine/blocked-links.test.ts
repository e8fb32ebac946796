import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BlockedLinks } from './blocked-links.ts';

describe('BlockedLinks', () => {
  it('blocks a link whichever way round it is asked, per workspace', () => {
    const b = new BlockedLinks([{ workspace: 'w', a: 'anon:x', b: 'user:1' }]);
    assert.equal(b.has('w', 'user:1', 'anon:x'), true);
    assert.equal(b.has('w', 'anon:x', 'user:1'), true);
    assert.equal(b.has('v', 'user:1', 'anon:x'), false, 'another workspace');
    assert.equal(b.has('w', 'user:1', 'anon:y'), false);
    assert.equal(b.add('w', 'user:1', 'anon:x'), false, 'blocked already');
    assert.equal(b.size, 1);
  });

  it('lists the blocks naming some identifiers, each once, a < b, sorted', () => {
    const b = new BlockedLinks();
    b.add('w', 'user:1', 'anon:x');
    b.add('w', 'user:2', 'anon:x');
    b.add('w', 'user:3', 'anon:z');
    b.add('v', 'user:1', 'anon:x');
    assert.deepEqual(b.naming('w', ['anon:x', 'user:1']), [['anon:x', 'user:1'], ['anon:x', 'user:2']]);
    assert.deepEqual(b.naming('w', ['anon:q']), []);
    assert.deepEqual(new BlockedLinks().naming('w', ['anon:x']), []);
  });

  it('the blocks naming a set of identifiers are exactly the added pairs that touch it, whatever the order of adding (property)', () => {
    const ident = fc.constantFrom('user:1', 'user:2', 'anon:a', 'anon:b', 'email:e');
    const pair = fc.tuple(ident, ident).filter(([x, y]) => x !== y);
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 12 }), fc.uniqueArray(ident), (pairs, ids) => {
        const b = new BlockedLinks();
        for (const [x, y] of pairs) b.add('w', x, y);
        const want = [...new Set(pairs.filter(([x, y]) => ids.includes(x) || ids.includes(y)).map(([x, y]) => (x < y ? `${x} ${y}` : `${y} ${x}`)))].sort();
        assert.deepEqual(b.naming('w', ids).map(([x, y]) => `${x} ${y}`), want);
        for (const [x, y] of pairs) assert.equal(b.has('w', y, x), true);
      }),
    );
  });
});
