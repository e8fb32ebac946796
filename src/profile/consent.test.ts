import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PortraitEvent } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { applyConsent, consentAllows, consentOf, consentsOf, defaultConsentPolicy } from './consent.ts';

const POLICY = defaultConsentPolicy();
const ev = (over: Partial<PortraitEvent>): PortraitEvent => ({ type: 'track', workspace: 'w', messageId: 'm', userId: 'u', timestamp: 0, receivedAt: 0, ...over });

describe('consentOf', () => {
  it('reads identify traits, Segment categoryPreferences and the plain context form', () => {
    const e = ev({ type: 'identify', traits: { consent: { analytics: true } }, context: { consent: { categoryPreferences: { Advertising: false, Necessary: true }, personalisation: true } } });
    assert.deepEqual(consentOf(e, POLICY), {
      decisions: [
        { purpose: 'analytics', granted: true, source: 'identify' },
        { purpose: 'marketing', granted: false, source: 'context' },
        { purpose: 'personalisation', granted: true, source: 'context' },
      ],
      problems: [],
    }, 'one decision per purpose, sources kept, unmapped category ignored');
    assert.equal(consentOf(ev({ context: { consent: { marketing: true }, consentSource: 'api' } }), POLICY).decisions[0]!.source, 'api', 'the API marker');
  });

  it('reports unknown purposes, non-booleans and non-objects, and keeps the usable rest', () => {
    const r = consentOf(ev({ type: 'identify', traits: { consent: { marketing: 1, spam: true, analytics: false } }, context: { consent: { categoryPreferences: { Advertising: 'yes' } } } }), POLICY);
    assert.deepEqual(r.decisions, [{ purpose: 'analytics', granted: false, source: 'identify' }], 'the usable decision');
    assert.deepEqual(r.problems.map((p) => [p.field, p.reason]), [
      ['context.consent.categoryPreferences.Advertising', 'not_boolean'],
      ['traits.consent.marketing', 'not_boolean'],
      ['traits.consent.spam', 'unknown_purpose'],
    ], 'every problem with its field');
    assert.deepEqual(consentOf(ev({ context: { consent: 'yes' } }), POLICY).problems.map((p) => p.reason), ['not_object'], 'a consent that is not an object');
    assert.deepEqual(consentOf(ev({ type: 'track', traits: { consent: { marketing: true } } }), POLICY).decisions, [], 'traits.consent counts on identify only');
  });
});

const decision = fc.record({ t: fc.integer({ min: 0, max: 20 }), id: fc.integer({ min: 0, max: 999 }), granted: fc.boolean() });

describe('applyConsent', () => {
  it('any arrival order, refolding only when asked, ends in the state of event-time order (invariant)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(decision, { selector: (d) => d.id, minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 6 }), (ds, others) => {
        const events = [
          ...ds.map((d) => ev({ type: 'identify', messageId: `c${String(d.id).padStart(3, '0')}`, timestamp: d.t, traits: { consent: { marketing: d.granted } } })),
          ...others.map((t, i) => ev({ messageId: `o${i}`, timestamp: t })),
        ];
        const exact = consentsOf(events, POLICY);
        for (const order of [events, [...events].reverse()]) {
          const doc: ProfileDoc = emptyProfile('p', 'w', 'user', 0);
          let lastSeen = -Infinity;
          const seen: PortraitEvent[] = [];
          for (const e of order) {
            seen.push(e);
            for (const d of consentOf(e, POLICY).decisions) {
              // What the engine does on `refold`: recompute from every event so far.
              if (applyConsent(doc, d, e, lastSeen).refold) doc.consents = consentsOf(seen, POLICY);
            }
            lastSeen = Math.max(lastSeen, e.timestamp);
          }
          assert.deepEqual(doc.consents, exact, 'same consents as event-time order');
          for (let t = 0; t <= 20; t++) {
            assert.equal(consentAllows(doc, 'marketing', t), consentAllows({ ...doc, consents: exact } as ProfileDoc, 'marketing', t), `same gate at ${t}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('counts from the start of the current run of grants; a repeated grant keeps it; a withdrawal clears', () => {
    const doc = emptyProfile('p', 'w', 'user', 0);
    const put = (t: number, granted: boolean) => applyConsent(doc, { purpose: 'marketing', granted, source: 'identify' }, ev({ messageId: `c${t}`, timestamp: t }), 100);
    assert.deepEqual(put(10, true), { flipped: true, clear: false, refold: true }, 'a grant older than the latest event asks for a refold');
    assert.deepEqual(put(20, true), { flipped: false, clear: false, refold: false }, 'a repeated grant changes nothing');
    assert.equal(doc.consents!.marketing!.s, 10, 'the run started at the first grant');
    assert.deepEqual([consentAllows(doc, 'marketing', 9), consentAllows(doc, 'marketing', 10)], [false, true], 'the gate opens at the run start');
    assert.deepEqual(put(30, false), { flipped: true, clear: true, refold: false }, 'a newer withdrawal clears');
    assert.equal(consentAllows(doc, 'marketing', 40), false, 'closed after the withdrawal');
    assert.equal(consentAllows(doc, undefined, 0), true, 'no purpose: always allowed');
  });
});
