import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PortraitEvent } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { applyManualTags, manualTagOn, mergeManualTags } from './manual-tags.ts';

const T0 = Date.UTC(2026, 0, 10);

function decision(id: string, t: number, tags: Record<string, unknown>): PortraitEvent {
  return { type: 'identify', messageId: id, timestamp: t, userId: 'u', context: { portraitTags: tags } } as unknown as PortraitEvent;
}

function fold(events: readonly PortraitEvent[]): ProfileDoc {
  const doc = emptyProfile('p', 'w', 'user', 1);
  for (const e of events) applyManualTags(doc, e, undefined);
  return doc;
}

const TAGS = ['a', 'a/b', 'c/d/e'];
const events = fc.uniqueArray(
  fc.record({ id: fc.integer({ min: 0, max: 10_000 }), t: fc.integer({ min: 0, max: 20 }), tag: fc.constantFrom(...TAGS), on: fc.boolean() }),
  { selector: (d) => d.id, maxLength: 12 },
).map((ds) => ds.map((d) => decision(`m${d.id}`, T0 + d.t, { [d.tag]: d.on })));

describe('manual tags in a profile', () => {
  it('the latest decision per tag wins, in any order, and two profiles merge to the fold of both', () => {
    fc.assert(
      fc.property(
        events.chain((all) => fc.tuple(fc.constant(all), fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }), fc.integer({ min: 0, max: all.length }))),
        ([all, shuffled, cut]) => {
          assert.deepEqual(fold(shuffled).tags, fold(all).tags, 'order-insensitive');
          assert.deepEqual(mergeManualTags(fold(all.slice(0, cut)).tags, fold(all.slice(cut)).tags), fold(all).tags, 'two profiles merge to the fold of both');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('records changes for the history and reports unusable entries without folding them', () => {
    const doc = emptyProfile('p', 'w', 'user', 1);
    const changes = {};
    const problems = applyManualTags(doc, decision('m1', T0, { 'value/high': true, 'Bad Name': true, 'a/b': 'yes' }), changes);
    assert.deepEqual(changes, { 'tag.value/high': [false, true] }, 'the history key tag.<name>');
    assert.deepEqual(problems, [{ field: 'context.portraitTags.Bad Name', value: true }, { field: 'context.portraitTags.a/b', value: 'yes' }], 'each unusable entry with its field');
    assert.equal(manualTagOn(doc, 'value/high'), true, 'set');
    assert.deepEqual(applyManualTags(doc, decision('m2', T0, ['x'] as unknown as Record<string, unknown>), {}), [{ field: 'context.portraitTags', value: ['x'] }], 'not an object');
    const again = {};
    applyManualTags(doc, decision('m0', T0, { 'value/high': false }), again);
    assert.deepEqual([again, manualTagOn(doc, 'value/high')], [{}, true], 'an earlier decision (same time, lower messageId) changes nothing');
  });
});
