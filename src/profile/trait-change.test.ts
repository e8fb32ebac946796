import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Json, JsonObject } from '../core/event.ts';
import { pageHistory } from '../storage/rows.ts';
import { topAggregator } from '../traits/top.ts';
import { recordTraitChange, splitTraitChanges, traitOfKey, type Changes } from './trait-change.ts';

/** A trait whose aggregator has no `keyed`: objects are its maps. */
const trait = (name: string) => ({ name, aggregator: {} });

/** Small key alphabet (so objects share keys), prototype member names and dotted keys included. */
const key = fc.constantFrom('books', 'toys', 'a.b', '', '__proto__', 'constructor', '10');
const leaf: fc.Arbitrary<Json> = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, null, 'x', true), fc.constant<Json>([1, 2]));
/** A JSON object with data keys (a "__proto__" key defined, as JSON.parse would make it). */
const object: fc.Arbitrary<JsonObject> = fc.array(fc.tuple(key, leaf), { maxLength: 5 }).map((pairs) => {
  const o: JsonObject = {};
  for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
});
const value: fc.Arbitrary<Json | undefined> = fc.oneof({ weight: 3, arbitrary: object }, { weight: 1, arbitrary: leaf }, { weight: 1, arbitrary: fc.constant(undefined) });

/** Applies the recorded changes of trait `name` to `before`; what is absent reads undefined. */
function applied(name: string, before: JsonObject, changes: Changes): Record<string, Json | undefined> {
  const out: Record<string, Json | undefined> = {};
  for (const k of Object.keys(before)) Object.defineProperty(out, k, { value: before[k], enumerable: true, writable: true, configurable: true });
  const prefix = `trait.${name}.`;
  for (const [k, [, v]] of Object.entries(changes)) {
    assert.ok(k.startsWith(prefix), `key ${k} names the trait`);
    Object.defineProperty(out, k.slice(prefix.length), { value: v, enumerable: true, writable: true, configurable: true });
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** An object's entries, sorted by key: objects equal in content regardless of key order. */
const content = (o: Record<string, Json | undefined>) => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));

describe('recording a trait change', () => {
  it('objects on both sides: one change per differing key, and applying them to the old value gives the new one', () => {
    fc.assert(
      fc.property(object, object, (before, after) => {
        const changes: Changes = {};
        recordTraitChange(changes, trait('interest'), before, after);
        if (content(before) === content(after)) {
          assert.deepEqual(changes, {}, 'no key changed (at most their order moved): nothing recorded');
          return;
        }
        assert.equal(content(applied('interest', before, changes)), content(after));
        for (const [k, [o, v]] of Object.entries(changes)) {
          const sub = k.slice('trait.interest.'.length);
          assert.notEqual(JSON.stringify(o), JSON.stringify(v), `${k} records a difference`);
          assert.equal(o, Object.hasOwn(before, sub) ? before[sub] : undefined, `${k}: old is the old value's`);
          assert.equal(traitOfKey(k), 'interest', `${k} names the trait interest`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('anything else is recorded whole, when it differs or when asked to', () => {
    fc.assert(
      fc.property(value, value, fc.boolean(), (before, after, always) => {
        fc.pre(!(typeof before === 'object' && before !== null && !Array.isArray(before) && typeof after === 'object' && after !== null && !Array.isArray(after)));
        const changes: Changes = {};
        recordTraitChange(changes, trait('rfm'), before, after, always);
        const absent = (v: Json | undefined) => v === undefined || v === null;
        const differs = absent(before) || absent(after) ? before !== after : JSON.stringify(before) !== JSON.stringify(after);
        assert.deepEqual(changes, differs || always ? { 'trait.rfm': [before, after] } : {});
      }),
      { numRuns: 300 },
    );
  });

  it('a top list is recorded per key, as key → count', () => {
    const top = { name: 'top_categories', aggregator: topAggregator({ k: 2 }) };
    const changes: Changes = {};
    recordTraitChange(changes, top, [{ key: 'a', count: 2 }, { key: 'b', count: 1 }], [{ key: 'a', count: 2 }, { key: 'c', count: 2 }]);
    assert.deepEqual(changes, { 'trait.top_categories.b': [1, undefined], 'trait.top_categories.c': [undefined, 2] }, 'c enters, b leaves, a reads the same');
    const cleared: Changes = {};
    recordTraitChange(cleared, top, [{ key: 'a', count: 2 }], [], true);
    assert.deepEqual(cleared, { 'trait.top_categories.a': [2, undefined] });
  });

  it('equal objects asked to be recorded are recorded whole', () => {
    const changes: Changes = {};
    recordTraitChange(changes, trait('interest'), { books: 1 }, { books: 1 }, true);
    assert.deepEqual(changes, { 'trait.interest': [{ books: 1 }, { books: 1 }] });
  });

  it('splitTraitChanges gives a whole-object change (as older rows hold it) the shape recorded today, and leaves that shape alone', () => {
    fc.assert(
      fc.property(object, object, (before, after) => {
        const today: Changes = {};
        recordTraitChange(today, trait('interest'), before, after);
        const older: Changes = content(before) === content(after) ? {} : { 'trait.interest': [before, after] };
        const other: Changes = { 'attr.address': [{ city: 'A' }, { city: 'B' }], 'trait.orders': [1, 2] };
        assert.deepEqual(splitTraitChanges({ ...older, ...other }), { ...today, ...other }, 'an old row reads as a new one; attributes and scalar traits stay whole');
        assert.deepEqual(splitTraitChanges(today), today, 'a new row reads as written');
      }),
      { numRuns: 300 },
    );
  });

  it('the history reader returns rows of either shape in the shape recorded today', () => {
    const older = { position: 1, messageId: 'm1', time: 10, changes: { 'trait.interest': [{ books: 1 }, { books: 2, toys: 1 }], 'trait.orders': [null, 1] } };
    const newer = { position: 2, messageId: 'm2', time: 20, changes: { 'trait.interest.books': [2, 3] } };
    const rows = [{ entries: JSON.stringify([newer]) }, { entries: JSON.stringify([older]) }];
    assert.deepEqual(pageHistory('w', 'p1', rows, Infinity, 10), [
      { workspace: 'w', profileId: 'p1', ...newer },
      { workspace: 'w', profileId: 'p1', position: 1, messageId: 'm1', time: 10, changes: { 'trait.orders': [null, 1], 'trait.interest.books': [1, 2], 'trait.interest.toys': [undefined, 1] } },
    ]);
  });
});
