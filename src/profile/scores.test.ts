import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PortraitEvent } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { scoreSpecs } from '../core/scores.ts';
import { applyEvent } from './apply.ts';
import { defaultAttributePolicy } from './attributes.ts';
import { mergeDocs } from './merge.ts';
import type { ProfileRules } from './runtime.ts';

const RULES: ProfileRules = { traits: [], attributes: defaultAttributePolicy, scores: scoreSpecs([{ name: 'churn', min: 0, max: 1 }, { name: 'ltv' }]) };
const ev = (over: Partial<PortraitEvent>): PortraitEvent => ({ type: 'track', event: 'Scored', workspace: 'w', messageId: 'm', userId: 'u', timestamp: 0, receivedAt: 0, ...over });
const fold = (events: readonly PortraitEvent[]): ProfileDoc => {
  const d = emptyProfile('p', 'w', 'user', 0);
  for (const e of events) applyEvent(d, e, RULES, false);
  return d;
};

// One message per messageId; a message carries one or both scores, some of them unusable.
const scoreEvent = fc
  .record({
    t: fc.integer({ min: 0, max: 10 }),
    churn: fc.option(fc.oneof(fc.integer({ min: 0, max: 10 }).map((n) => n / 10), fc.constant(7)), { nil: undefined }),
    ltv: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
    model: fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
  })
  .map((x) => ({ t: x.t, scores: { ...(x.churn !== undefined ? { churn: x.churn } : {}), ...(x.ltv !== undefined ? { ltv: x.model ? { value: x.ltv, model: x.model } : x.ltv } : {}) } }));
const events = fc.array(scoreEvent, { minLength: 1, maxLength: 12 }).map((xs) => xs.map((x, i) => ev({ messageId: `m${String(i).padStart(2, '0')}`, timestamp: x.t, context: { scores: x.scores } })));

describe('scores in a profile document', () => {
  it('keep the latest by event time then messageId; an unusable score is reported and changes nothing', () => {
    const d = emptyProfile('p', 'w', 'user', 0);
    const r1 = applyEvent(d, ev({ messageId: 'b', timestamp: 10, context: { scores: { churn: 0.4, ltv: { value: 3, model: 'ltv-v1' } } } }), RULES, true);
    assert.deepEqual(r1.changes, { 'score.churn': [undefined, 0.4], 'score.ltv': [undefined, 3] }, 'new scores are changes');
    assert.deepEqual(d.scores, { churn: { v: 0.4, t: 10, id: 'b' }, ltv: { v: 3, t: 10, id: 'b', m: 'ltv-v1' } }, 'stored with time, message and model');
    const late = applyEvent(d, ev({ messageId: 'z', timestamp: 5, context: { scores: { churn: 0.9 } } }), RULES, true);
    assert.deepEqual([late.changes, d.scores!.churn!.v], [{}, 0.4], 'a late older score is ignored');
    const tie = applyEvent(d, ev({ messageId: 'c', timestamp: 10, context: { scores: { churn: 0.5, fraud: 1, ltv: 'x' } } }), RULES, true);
    assert.deepEqual(tie.changes, { 'score.churn': [0.4, 0.5] }, 'the same time: the larger messageId wins');
    assert.deepEqual(tie.rejections.map((x) => [x.attribute, x.reason, x.kept, x.rejected]), [['context.scores.fraud', 'score', null, 1], ['context.scores.ltv', 'score', 3, 'x']], 'unusable scores are reported, with the value kept');
    const group = emptyProfile('g', 'w', 'group', 0);
    applyEvent(group, ev({ type: 'group', groupId: 'g', context: { scores: { churn: 0.1 } } }), RULES, true);
    assert.equal(group.scores, undefined, 'a group profile keeps no scores');
  });

  it('any order of the same events gives the same scores, and merging two parts equals folding all (invariant)', () => {
    fc.assert(
      fc.property(
        events.chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }), fc.integer({ min: 0, max: xs.length }))),
        ([xs, shuffled, cut]) => {
          const all = fold(xs);
          assert.deepEqual(fold(shuffled).scores, all.scores, 'another order, the same scores');
          const merged = mergeDocs(fold(shuffled.slice(0, cut)), fold(shuffled.slice(cut)), RULES);
          assert.deepEqual(merged.scores, all.scores, 'merge of two parts');
          assert.deepEqual(mergeDocs(fold(shuffled.slice(cut)), fold(shuffled.slice(0, cut)), RULES).scores, all.scores, 'in either order');
        },
      ),
      { numRuns: 300 },
    );
  });
});
