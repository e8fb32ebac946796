/** The registry: one factory per kind. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPortraitError } from '../core/errors.ts';
import { createAggregator, knownKinds, TRAIT_KINDS } from './index.ts';
import { agg } from './testing.ts';

describe('registry', () => {
  it('knows the 13 kinds and builds an aggregator for each', () => {
    assert.deepEqual(knownKinds(), [...TRAIT_KINDS]);
    assert.equal(knownKinds().length, 13);
    const extra: Record<string, Record<string, unknown>> = {
      sum: { value: 'v' }, min: { value: 'v' }, max: { value: 'v' }, avg: { value: 'v' }, first: { value: 'v' }, last: { value: 'v' },
      distinct: { value: 'v' }, top: { key: 'k' }, window_count: { window: '1d' }, window_sum: { value: 'v', window: '1d' },
      decayed: { key: 'k', halfLife: '1d' }, rfm: { value: 'v' },
    };
    for (const kind of TRAIT_KINDS) {
      const a = agg({ kind, ...(extra[kind] ?? {}) });
      for (const f of ['init', 'add', 'merge', 'value'] as const) assert.equal(typeof a[f], 'function', `${kind}.${f}`);
      // init() is a JSON value
      assert.deepEqual(JSON.parse(JSON.stringify(a.init())), a.init());
    }
  });
  it('an unknown kind is PORTRAIT_TRAIT_UNKNOWN_KIND', () => {
    assert.throws(
      () => createAggregator({ name: 'x', kind: 'median' } as never),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_TRAIT_UNKNOWN_KIND' && e.message.includes('median') && e.message.includes('window_count'),
    );
    // Not a prototype member either.
    assert.throws(() => createAggregator({ name: 'x', kind: 'constructor' } as never), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_TRAIT_UNKNOWN_KIND');
  });
});
