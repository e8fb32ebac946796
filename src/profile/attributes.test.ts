import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AttributeValue } from '../core/profile.ts';
import type { Json } from '../core/event.ts';
import { defaultAttributePolicy, pickAttribute, sameJson, type AttributePolicy } from './attributes.ts';

const value = fc.record(
  { v: fc.integer({ min: 0, max: 5 }), t: fc.integer({ min: 0, max: 20 }), id: fc.constantFrom('a', 'b', 'c', 'd'), o: fc.constantFrom<1 | undefined>(1, undefined) },
  { requiredKeys: ['v', 't', 'id'] },
).map((x): AttributeValue => (x.o === 1 ? { v: x.v, t: x.t, id: x.id, o: 1 } : { v: x.v, t: x.t, id: x.id }));

const fold = (name: string, xs: AttributeValue[], policy: AttributePolicy) => xs.reduce((acc, x) => pickAttribute(name, acc, x, policy));

describe('attribute values: which one survives', () => {
  const v = (t: number, id: string, o?: 1): AttributeValue => (o ? { v: `${t}${id}o`, t, id, o } : { v: `${t}${id}`, t, id });

  it('an ordinary write beats any "only if not set" write, whatever their times', () => {
    const p = defaultAttributePolicy;
    assert.equal(pickAttribute('city', v(5, 'a', 1), v(1, 'b'), p).v, '1b', 'an older ordinary write still wins over a set-once one');
    assert.equal(pickAttribute('city', v(1, 'b'), v(5, 'a', 1), p).v, '1b', 'in either order');
    assert.equal(pickAttribute('city', v(1, 'a'), v(2, 'b'), p).v, '2b', 'among ordinary writes the latest wins');
    assert.equal(pickAttribute('city', v(1, 'a', 1), v(2, 'b', 1), p).v, '1ao', 'among set-once writes the earliest wins');
    const configured: AttributePolicy = { setOnce: new Set(['signup']), types: {} };
    assert.equal(pickAttribute('signup', v(1, 'a'), v(2, 'b', 1), configured).v, '1a', 'a configured set-once attribute keeps the earliest value of any kind');
  });

  it('the survivor is the same for any order and grouping (commutative, associative)', () => {
    for (const policy of [defaultAttributePolicy, { setOnce: new Set(['x']), types: {} } satisfies AttributePolicy]) {
      // One value per (time, messageId): a message writes a name once.
      const values = fc.uniqueArray(value, { minLength: 1, maxLength: 12, selector: (x) => `${x.t}/${x.id}` });
      fc.assert(
        fc.property(
          values.chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }), fc.integer({ min: 0, max: xs.length - 1 }))),
          ([xs, shuffled, cut]) => {
            const one = fold('x', xs, policy);
            assert.deepEqual(fold('x', shuffled, policy), one, 'another order, the same survivor');
            const left = shuffled.slice(0, cut + 1);
            const right = shuffled.slice(cut + 1);
            const split = right.length === 0 ? fold('x', left, policy) : pickAttribute('x', fold('x', left, policy), fold('x', right, policy), policy);
            assert.deepEqual(split, one, 'folding two parts and merging them, the same survivor');
          },
        ),
        { numRuns: 300 },
      );
    }
  });
});

describe('sameJson', () => {
  // Small alphabets so that equal values come up often; keys in either order; undefined and non-finite numbers as JSON.stringify writes them.
  const leaf = fc.oneof(fc.constantFrom<unknown>(0, -0, 1, 1.5, NaN, Infinity, null, undefined, true, 'a', 'b', '1'));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b', '__proto__', '10', '2'), tie('tree'), { maxKeys: 3 })),
  }));
  const objectTree = fc.oneof(fc.array(tree, { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b', 'c', '1'), tree, { maxKeys: 3 }));

  it('two objects or arrays are the same exactly when JSON.stringify writes them alike (property)', () => {
    fc.assert(
      fc.property(objectTree, objectTree, (a, b) => {
        assert.equal(sameJson(a as Json, b as Json), JSON.stringify(a) === JSON.stringify(b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        assert.ok(sameJson(a as Json, structuredClone(a) as Json), 'a copy is the same');
      }),
      { numRuns: 2000 },
    );
  });

  it('compares primitives by identity and tells key order apart', () => {
    assert.ok(sameJson(1, 1) && !sameJson(1, '1') && !sameJson(null, undefined) && !sameJson(0, null));
    assert.ok(!sameJson({ a: 1, b: 2 }, { b: 2, a: 1 }), 'key order is part of the text');
    assert.ok(sameJson({ a: 1, b: undefined } as unknown as Json, { a: 1 }), 'an undefined member is not written');
    assert.ok(sameJson([undefined] as unknown as Json, [null]), 'an undefined element is written as null');
    assert.ok(!sameJson({ k: [1, { x: 2 }] }, { k: [1, { x: 3 }] }), 'a nested difference');
  });
});
