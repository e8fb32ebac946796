/**
 * Consent is folded so that the state depends only on the set of events:
 * for random workloads where consent is granted and withdrawn (by identify
 * traits and by context.consent, on anonymous and identified profiles that
 * later merge, with purpose-bound scores among the events), any arrival order and chunking gives the same profiles and
 * memberships, a rebuild reproduces them, and the profile as of the latest
 * event time equals the live one.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Portrait } from '../src/index.ts';
import { openMemory, T0 } from './support/open.ts';
import { ingestInChunks } from './support/chunks.ts';

const DAY = 86_400_000;
const SPAN = 20 * DAY;

const CONFIG = {
  traits: [
    { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } },
    { name: 'mkt_orders', kind: 'count', purpose: 'marketing', filter: { event: 'Order Completed' } },
    { name: 'mkt_spend', kind: 'sum', value: 'properties.price', purpose: 'marketing', filter: { event: 'Order Completed' } },
    { name: 'seen_pages', kind: 'count', purpose: 'analytics', filter: { type: 'page' } },
  ],
  segments: [
    { name: 'promo', condition: 'traits.orders >= 1', purpose: 'marketing' },
    { name: 'reachable', condition: 'consent.marketing = true and consent.analytics = true' },
    { name: 'big', condition: 'traits.mkt_spend > 50' },
    { name: 'likely', condition: 'score.mkt_propensity >= 0.5 and score.churn < 0.5' },
  ],
  // A purpose-bound score follows the same gate as the purpose-bound traits.
  scores: [{ name: 'churn', min: 0, max: 1 }, { name: 'mkt_propensity', min: 0, max: 1, purpose: 'marketing' }],
};

const message = fc.record({
  user: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom('order', 'anon-order', 'page', 'identify', 'consent-traits', 'consent-context', 'anon-consent', 'score', 'anon-score'),
  t: fc.integer({ min: 0, max: SPAN }),
  price: fc.integer({ min: 1, max: 40 }),
  marketing: fc.boolean(),
  analytics: fc.option(fc.boolean(), { nil: undefined }),
});
type Spec = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toMessage(s: Spec, i: number): Record<string, unknown> {
  const base = { messageId: `m${i}`, timestamp: T0 + s.t };
  const userId = `u${s.user}`;
  const anonymousId = `a${s.user}`;
  const decisions: Record<string, boolean> = { marketing: s.marketing, ...(s.analytics !== undefined ? { analytics: s.analytics } : {}) };
  switch (s.kind) {
    case 'order':
      return { ...base, type: 'track', userId, event: 'Order Completed', properties: { price: s.price } };
    case 'anon-order':
      return { ...base, type: 'track', anonymousId, event: 'Order Completed', properties: { price: s.price } };
    case 'page':
      return { ...base, type: 'page', anonymousId, name: 'Home' };
    case 'identify':
      return { ...base, type: 'identify', userId, anonymousId };
    case 'score':
      return { ...base, type: 'track', userId, event: 'Scored', context: { scores: { mkt_propensity: s.price / 40, churn: s.marketing ? 0.2 : 0.8 } } };
    case 'anon-score':
      return { ...base, type: 'page', anonymousId, name: 'Home', context: { scores: { mkt_propensity: s.price / 40 } } };
    case 'consent-traits':
      return { ...base, type: 'identify', userId, traits: { consent: decisions } };
    case 'consent-context':
      return { ...base, type: 'track', userId, event: 'Viewed', context: { consent: { categoryPreferences: { Advertising: s.marketing, ...(s.analytics !== undefined ? { Analytics: s.analytics } : {}) } } } };
    default:
      return { ...base, type: 'page', anonymousId, name: 'Consent', context: { consent: decisions } };
  }
}

async function snapshot(p: Portrait): Promise<string> {
  const out: string[] = [];
  for (let u = 0; u < 3; u++) {
    for (const [type, id] of [['user_id', `u${u}`], ['anonymous_id', `a${u}`]] as const) {
      const v = await p.profile(type, id);
      if (v === undefined) {
        out.push(`${type}:${id} -`);
        continue;
      }
      const { id: _id, ...rest } = v;
      out.push(`${type}:${id} ${JSON.stringify(rest)}`);
    }
  }
  for (const s of CONFIG.segments) {
    const members = (await p.segments.members(s.name, { limit: 100 })).members.map((m) => m.profileId);
    // Profile ids depend on arrival order: name members by their identifiers instead.
    const names: string[] = [];
    for (const m of members) names.push(JSON.stringify((await p.profile('profile_id', m))!.identities));
    out.push(`${s.name}: ${names.sort().join(' ')}`);
  }
  return out.join('\n');
}

async function run(messages: Record<string, unknown>[], chunks: number[], check: boolean): Promise<string> {
  const { p } = await openMemory({ traits: [...CONFIG.traits], segments: [...CONFIG.segments], scores: [...CONFIG.scores] });
  try {
    await ingestInChunks(p, messages, chunks);
    assert.equal(p.stats().quarantined, 0, 'every generated message (scores included) is valid');
    const live = await snapshot(p);
    if (check) {
      for (let u = 0; u < 3; u++) {
        const now = await p.profile('user_id', `u${u}`);
        if (now === undefined) continue;
        const past = await p.profile('user_id', `u${u}`, { at: T0 + SPAN });
        assert.deepEqual(past, now, `the profile as of the latest event time equals the live one (u${u})`);
      }
      await p.rebuild();
      assert.equal(await snapshot(p), live, 'a rebuild reproduces the profiles and memberships');
    }
    return live;
  } finally {
    await p.close();
  }
}

describe('consent and purpose-bound state are independent of arrival order', () => {
  it('any order and chunking of the same events gives the same profiles and memberships; rebuild and as-of agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 8 }),
        fc.integer(),
        async (specs, chunksA, chunksB, seed) => {
          const messages = specs.map(toMessage);
          const sorted = [...messages].sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
          const shuffled = fc.sample(fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }), { seed, numRuns: 1 })[0]!;
          const a = await run(sorted, chunksA, true);
          const b = await run(shuffled, chunksB, true);
          assert.equal(b, a, 'shuffled arrival equals event-time arrival');
        },
      ),
      { numRuns: 40 },
    );
  });
});
