import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { createHmac } from 'node:crypto';
import { ErasedIdentifiers } from './erased.ts';

const hash = (ws: string, k: string) => createHmac('sha256', 'test key').update(`${ws}\u0000${k}`).digest('hex');

describe('erased identifiers of a partition', () => {
  it('drops a record from before the erasure of an identifier it names, keeps one from after, and counts the drops', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1', 'anon:a1'], 100);
    assert.equal(e.drops('w', ['anon:a1'], 99), true, 'made before the erasure');
    assert.equal(e.drops('w', ['user:u1', 'anon:other'], 101), false, 'made after it: the identifier is used again');
    assert.equal(e.drops('w', ['user:u2'], 1), false, 'names no erased identifier');
    assert.equal(e.drops('other', ['user:u1'], 1), false, 'another workspace');
    const rows = e.take();
    assert.deepEqual(
      rows.map((r) => [r.hash, r.position, r.dropped]).sort(),
      [
        [hash('w', 'anon:a1'), 100, 1],
        [hash('w', 'user:u1'), 100, 0],
      ].sort(),
      'rows hold keyed hashes, never the identifiers, with the drops counted',
    );
    assert.ok(rows.every((r) => !JSON.stringify(r).includes('u1') && !JSON.stringify(r).includes('a1')));
    assert.deepEqual(e.take(), [], 'nothing changed since');
  });

  it('a later erasure of the same identifier moves its position on, an earlier one does not', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1'], 100);
    e.add('w', ['user:u1'], 50);
    assert.equal(e.drops('w', ['user:u1'], 60), true, 'still erased at 100');
    e.add('w', ['user:u1'], 200);
    assert.equal(e.drops('w', ['user:u1'], 150), true, 'erased again at 200');
    assert.deepEqual(e.take().map((r) => [r.position, r.dropped]), [[200, 2]], 'one row, with the drops it counted before');
  });

  it('names tells, without counting, whether an event comes from before the erasure of someone it names', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1'], 100);
    e.take();
    assert.equal(e.names('w', ['user:u1'], 99), true, 'before the erasure');
    assert.equal(e.names('w', ['user:u1'], 100), false, 'at or after it');
    assert.equal(e.names('w', ['user:u2'], 1), false, 'someone else');
    assert.deepEqual(e.take(), [], 'nothing counted, nothing to write');
  });

  it('dropsAt gives the position of the erasure that drops a record, and counts the drop', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1'], 100);
    e.add('w', ['anon:a1'], 200);
    e.take();
    assert.equal(e.dropsAt('w', ['user:u2', 'anon:a1'], 150), 200, 'the erasure after the record that names it');
    assert.equal(e.dropsAt('w', ['user:u1'], 150), undefined, 'made after that erasure');
    assert.deepEqual(e.take().map((r) => [r.position, r.dropped]), [[200, 1]]);
  });

  it('load replaces what is held by the committed rows and forgets uncommitted changes', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1'], 100);
    e.load([{ workspace: 'w', hash: hash('w', 'user:u2'), position: 10, dropped: 3 }]);
    assert.deepEqual(e.take(), [], 'uncommitted changes are gone');
    assert.equal(e.drops('w', ['user:u1'], 1), false);
    assert.equal(e.drops('w', ['user:u2'], 9), true);
    assert.deepEqual(e.take().map((r) => r.dropped), [4]);
  });

  it('holds tells whether an identifier was erased at all, whatever the position, without counting; hashOf gives the keyed hash rows use', () => {
    const e = new ErasedIdentifiers(hash);
    e.add('w', ['user:u1'], 100);
    e.take();
    assert.equal(e.holds('w', ['anon:x', 'user:u1']), true);
    assert.equal(e.holds('w', ['anon:x']), false);
    assert.equal(e.holds('other', ['user:u1']), false, 'another workspace');
    assert.deepEqual(e.take(), [], 'nothing counted');
    assert.equal(e.hashOf('w', 'user:u1'), hash('w', 'user:u1'));
  });
});
