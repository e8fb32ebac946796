/**
 * The Aggregator contract, checked by property for every trait kind: states
 * are order-free, split-then-merge equals folding the whole, merge is an
 * associative and commutative monoid with init() as identity, merge leaves its
 * arguments alone, and equal states give equal values. "Equal" means equal
 * JSON.stringify bytes: what a rebuild is compared with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DAY, HOUR } from '../core/clock.ts';
import type { Json } from '../core/event.ts';
import { recordTraitChange, type Changes } from '../profile/trait-change.ts';
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import { TRAIT_KINDS } from './definition.ts';
import { createAggregator, validateTraitDefinition } from './index.ts';

const NUM_RUNS = 200;
const BASE = Date.UTC(2024, 0, 1);
const RANGE = 60 * DAY;

interface Case {
  label: string;
  def: Record<string, unknown>;
  /** Where the 60-day range of event times starts (default 2024-01-01). */
  base?: number;
}

/** One definition per kind, plus variants that reach other code paths (HLL, pruning, top-k of scores). */
const CASES: Case[] = [
  { label: 'count', def: { kind: 'count' } },
  { label: 'sum', def: { kind: 'sum', value: 'properties.v' } },
  { label: 'min', def: { kind: 'min', value: 'properties.v' } },
  { label: 'max', def: { kind: 'max', value: 'properties.v' } },
  { label: 'avg', def: { kind: 'avg', value: 'properties.v' } },
  { label: 'first', def: { kind: 'first', value: 'properties.v' } },
  { label: 'last', def: { kind: 'last', value: 'properties.v' } },
  { label: 'distinct (exact)', def: { kind: 'distinct', value: 'properties.v' } },
  { label: 'distinct (exactLimit 5: HyperLogLog)', def: { kind: 'distinct', value: 'properties.v', exactLimit: 5 } },
  { label: 'top (k 3)', def: { kind: 'top', key: 'properties.k', k: 3 } },
  { label: 'window_count (3d, hour buckets)', def: { kind: 'window_count', window: '3d' } },
  { label: 'window_count (90m, hour buckets: window not a bucket multiple)', def: { kind: 'window_count', window: '90m' } },
  { label: 'window_sum (7d, day buckets)', def: { kind: 'window_sum', value: 'properties.v', window: '7d', bucket: 'day' } },
  { label: 'window_sum (2d, times around 1970: negative bucket numbers)', def: { kind: 'window_sum', value: 'properties.v', window: '2d' }, base: -30 * DAY },
  { label: 'decayed (1h half-life: pruning active, no value)', def: { kind: 'decayed', key: 'properties.k', halfLife: '1h' } },
  { label: 'decayed (7d half-life, day buckets, value, k 2)', def: { kind: 'decayed', key: 'properties.k', halfLife: '7d', bucket: 'day', value: 'properties.v', k: 2 } },
  { label: 'decayed (times around 1970)', def: { kind: 'decayed', key: 'properties.k', halfLife: '2d' }, base: -30 * DAY },
  { label: 'rfm', def: { kind: 'rfm', value: 'properties.v' } },
];

const build = (c: Case): Aggregator => createAggregator(validateTraitDefinition({ name: 'trait', ...c.def }));

// ---------------------------------------------------------------- inputs

/** Numbers with 0 to 6 decimals, negatives included; some large enough that micro-units leave the safe-integer range. */
const decimal = fc
  .tuple(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), fc.integer({ min: 0, max: 6 }))
  .map(([n, d]) => n / 10 ** d);
const large = fc.integer({ min: -9_000_000, max: 9_000_000 }).map((n) => n * 1_000_000 + 0.5);
const number = fc.oneof({ weight: 6, arbitrary: decimal }, { weight: 1, arbitrary: large }, { weight: 1, arbitrary: fc.constantFrom(0, -0, 1, -1, 0.1, 0.2) });
const numericString = fc.oneof(
  decimal.map(String),
  fc.constantFrom('1', '  2.5 ', '-0', '0.1', '1e3', '007'),
);
const junk = fc.constantFrom<unknown>('abc', '', ' ', 'NaN', 'Infinity', '1e400', null, true, false, [1, 2], 'k1', undefined);
/** Equal content in different key orders: canonical states must not care. */
const objects = fc.constantFrom<unknown>({ x: 1 }, { a: 1, b: [1, { d: 2, c: 3 }] }, { b: [1, { c: 3, d: 2 }], a: 1 }, { ['__proto__']: 1, constructor: 2 });
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: number },
  { weight: 2, arbitrary: numericString },
  { weight: 2, arbitrary: junk },
  { weight: 1, arbitrary: objects },
);
/** A small alphabet so keys collide; digit-only and prototype-member names included. */
const key = fc.option(fc.constantFrom('k1', 'k2', 'k3', 'x', '10', '9', '__proto__', 'constructor'), { nil: undefined, freq: 6 });
const id = fc.constantFrom('a', 'b', 'c', 'd');
const weight = fc.constantFrom(1, 1, 2, 0.5, 3, 0, -1);
/** Times in a 60-day range, some on hour and day boundaries. */
const freshTime = fc.oneof(
  fc.integer({ min: 0, max: RANGE }),
  fc.integer({ min: 0, max: 60 * 24 }).map((h) => h * HOUR),
  fc.integer({ min: 0, max: 60 }).map((d) => d * DAY),
);

/**
 * A list of inputs. A small pool of times is shared so equal times (and, with
 * the small id alphabet, equal (time, id) pairs) happen often — with equal or
 * different content, as when a messageId is re-sent after dedup expiry.
 */
function inputsArb(opts: { maxLength?: number; base?: number } = {}): fc.Arbitrary<AggregatorInput[]> {
  const base = opts.base ?? BASE;
  return fc
    .tuple(
      fc.array(freshTime, { minLength: 1, maxLength: 4 }),
      fc.array(fc.record({ fresh: freshTime, pick: fc.option(fc.nat(), { nil: undefined, freq: 2 }), id, value, key, weight }), {
        maxLength: opts.maxLength ?? 30,
      }),
    )
    .map(([pool, raw]) =>
      raw.map((r): AggregatorInput => {
        const time = base + (r.pick === undefined ? r.fresh : pool[r.pick % pool.length]!);
        return { time, id: r.id, value: r.value, key: r.key, weight: r.weight };
      }),
    );
}

/** Inputs and a permutation of them. */
const withPermutation = (inputs: fc.Arbitrary<AggregatorInput[]>) =>
  inputs.chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length })));

const nowArb = (base = BASE) => fc.oneof(fc.integer({ min: -DAY, max: RANGE + 10 * DAY }).map((t) => base + t), fc.constant(base + RANGE));

// ---------------------------------------------------------------- helpers

/** Folds inputs from a copy of `start` (add may mutate its state; inputs are copied too). */
function fold(agg: Aggregator, inputs: readonly AggregatorInput[], start: unknown = agg.init()): unknown {
  let s = structuredClone(start);
  for (const x of inputs) s = agg.add(s, structuredClone(x));
  return s;
}

/** merge on copies, so one call cannot disturb a later one even if it mutated. */
const merge = (agg: Aggregator, a: unknown, b: unknown): unknown => agg.merge(structuredClone(a), structuredClone(b));

const bytes = (s: unknown) => JSON.stringify(s);
const sameState = (a: unknown, b: unknown, msg?: string) => assert.equal(bytes(a), bytes(b), msg);

/** value() on copies: equal states must give deep-equal values. */
function sameValue(agg: Aggregator, a: unknown, b: unknown, now: number): void {
  assert.deepStrictEqual(agg.value(structuredClone(a), now), agg.value(structuredClone(b), now));
}

const byEventOrder = (xs: readonly AggregatorInput[]) => [...xs].sort((p, q) => (p.time !== q.time ? p.time - q.time : p.id < q.id ? -1 : p.id > q.id ? 1 : 0));

// ---------------------------------------------------------------- properties

describe('aggregator properties: every kind has a case', () => {
  it('covers all 13 kinds', () => {
    const covered = new Set(CASES.map((c) => c.def.kind));
    assert.deepEqual([...TRAIT_KINDS].filter((k) => !covered.has(k)), []);
  });
});

for (const c of CASES) {
  describe(`aggregator properties: ${c.label}`, () => {
    const agg = build(c);
    const inputs = inputsArb({ base: c.base });
    const nows = nowArb(c.base);

    it('(a)+(f) any two insertion orders give byte-identical states and equal values', () => {
      fc.assert(
        fc.property(withPermutation(inputs), nows, ([xs, ys], now) => {
          const s1 = fold(agg, xs);
          const s2 = fold(agg, ys);
          const s3 = fold(agg, byEventOrder(xs));
          const s4 = fold(agg, [...xs].reverse());
          sameState(s1, s2);
          sameState(s1, s3);
          sameState(s1, s4);
          sameValue(agg, s1, s2, now);
          sameValue(agg, s1, s4, now);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('(b)+(f) folding two parts and merging equals folding the whole', () => {
      fc.assert(
        fc.property(withPermutation(inputs), fc.nat(), nows, ([xs, ys], cut, now) => {
          const at = cut % (ys.length + 1);
          const whole = fold(agg, xs);
          const left = fold(agg, ys.slice(0, at));
          const right = fold(agg, ys.slice(at));
          const merged = merge(agg, left, right);
          sameState(merged, whole);
          sameValue(agg, merged, whole, now);
          // And continuing to add after a merge — or after storing and loading it — is the same as having added everything.
          const tail = ys.slice(0, Math.min(3, ys.length));
          sameState(fold(agg, tail, merged), fold(agg, [...xs, ...tail]));
          sameState(fold(agg, tail, JSON.parse(bytes(merged))), fold(agg, [...xs, ...tail]));
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('(c) merge is associative and commutative', () => {
      const small = inputsArb({ maxLength: 15, base: c.base });
      // Three parts of one input list, so duplicates across parts follow the same rule as within one.
      const parts = small.chain((xs) => fc.tuple(fc.constant(xs), fc.nat(), fc.nat()));
      fc.assert(
        fc.property(parts, ([xs, i, j]) => {
          const p = i % (xs.length + 1);
          const q = p + (j % (xs.length - p + 1));
          const a = fold(agg, xs.slice(0, p));
          const b = fold(agg, xs.slice(p, q));
          const d = fold(agg, xs.slice(q));
          sameState(merge(agg, merge(agg, a, b), d), merge(agg, a, merge(agg, b, d)), 'associative');
          sameState(merge(agg, a, b), merge(agg, b, a), 'commutative (a, b)');
          sameState(merge(agg, a, d), merge(agg, d, a), 'commutative (a, c)');
          sameState(merge(agg, merge(agg, a, d), b), merge(agg, merge(agg, a, b), d), 'any grouping');
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('(c) merge is associative and commutative for independently generated states', () => {
      const indep = fc.tuple(inputs, inputs, inputs);
      fc.assert(
        fc.property(indep, ([x, y, z]) => {
          const a = fold(agg, x);
          const b = fold(agg, y);
          const d = fold(agg, z);
          sameState(merge(agg, merge(agg, a, b), d), merge(agg, a, merge(agg, b, d)), 'associative');
          sameState(merge(agg, a, b), merge(agg, b, a), 'commutative');
          sameState(merge(agg, merge(agg, a, b), d), fold(agg, [...x, ...y, ...z]), 'merge equals folding the union');
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('(d) init() is the identity of merge, on both sides', () => {
      fc.assert(
        fc.property(inputs, (xs) => {
          const s = fold(agg, xs);
          sameState(agg.merge(agg.init(), structuredClone(s)), s, 'merge(init, s)');
          sameState(agg.merge(structuredClone(s), agg.init()), s, 'merge(s, init)');
          sameState(agg.merge(agg.init(), agg.init()), agg.init(), 'merge(init, init)');
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('(e) merge mutates neither argument, nor does adding to its result', () => {
      fc.assert(
        fc.property(inputs, inputs, inputs, (x, y, more) => {
          const a = fold(agg, x);
          const b = fold(agg, y);
          const before = [bytes(a), bytes(b)];
          let m = agg.merge(a, b);
          assert.deepEqual([bytes(a), bytes(b)], before, 'merge changed an argument');
          // The result may share structure with an argument only if add never writes through it.
          for (const e of more) m = agg.add(m, structuredClone(e));
          assert.deepEqual([bytes(a), bytes(b)], before, 'adding to the merge result changed an argument');
          // Also with init() on either side.
          const i1 = agg.init();
          const i1Before = bytes(i1);
          agg.merge(i1, a);
          agg.merge(a, i1);
          assert.equal(bytes(i1), i1Before);
          assert.equal(bytes(a), before[0]);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('value() does not change the state', () => {
      fc.assert(
        fc.property(inputs, nows, (xs, now) => {
          const s = fold(agg, xs);
          const before = bytes(s);
          agg.value(s, now);
          assert.equal(bytes(s), before);
        }),
        { numRuns: 50 },
      );
    });

    if (agg.addReporting !== undefined) {
      const addReporting = agg.addReporting;
      it('addReporting folds as add does and reports what comparing value() before and after add records', () => {
        let reported = 0;
        fc.assert(
          fc.property(inputs, inputs, nows, (xs, more, now) => {
            let s = fold(agg, xs);
            for (const x of more) {
              const added = agg.add(structuredClone(s), structuredClone(x));
              const expected: Changes = {};
              recordTraitChange(expected, { name: 't', aggregator: agg }, agg.value(structuredClone(s), now) as Json, agg.value(structuredClone(added), now) as Json);
              const r = addReporting(structuredClone(s), structuredClone(x), now);
              if (r !== undefined) {
                reported++;
                sameState(r.state, added, 'the state is what add makes');
                const got: Changes = {};
                for (const k of Object.keys(r.change)) got[`trait.t.${k}`] = r.change[k] as Changes[string];
                assert.deepEqual(got, expected);
              }
              s = added;
            }
          }),
          { numRuns: NUM_RUNS },
        );
        // A decayed trait with a top k always reads its whole value.
        if (!(c.def.kind === 'decayed' && c.def.k !== undefined)) assert.ok(reported > 0, 'the shortcut was taken at least once');
      });
    }
  });
}
