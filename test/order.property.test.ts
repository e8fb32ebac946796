import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Portrait } from '../src/index.ts';
import { openMemory, T0 } from './support/open.ts';
import { TEN_TRAITS } from './support/workload.ts';
import { ingestInChunks } from './support/chunks.ts';

const DAY = 86_400_000;
const CATS = ['books', 'music', 'toys'];

/** One user's possible messages: browsing under anonymous ids, identify, alias, purchases, model scores. */
const message = fc.record({
  user: fc.integer({ min: 0, max: 3 }),
  anon: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom('view', 'order', 'identify', 'page', 'alias', 'anon-view', 'score', 'anon-score'),
  t: fc.integer({ min: 0, max: 20 * DAY }),
  cat: fc.constantFrom(...CATS),
  price: fc.integer({ min: 0, max: 100_000 }).map((c) => c / 100),
  city: fc.constantFrom('Lima', 'Oslo', 'Pune'),
  // A model's output: coarse values so that ties of time between different values occur.
  score: fc.integer({ min: 0, max: 4 }).map((n) => n / 4),
});

type Spec = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toMessage(s: Spec, i: number): Record<string, unknown> {
  const anonymousId = `a${s.user}_${s.anon}`;
  const base = { messageId: `m${i}`, timestamp: T0 + s.t };
  switch (s.kind) {
    case 'identify':
      return { ...base, type: 'identify', userId: `u${s.user}`, anonymousId, traits: { city: s.city, email: `u${s.user}@x.org` } };
    case 'alias':
      return { ...base, type: 'alias', userId: `u${s.user}`, previousId: `legacy${s.user}` };
    case 'page':
      return { ...base, type: 'page', anonymousId, name: 'Home' };
    case 'score':
      return { ...base, type: 'identify', userId: `u${s.user}`, context: { scores: { churn: s.score, ltv: { value: s.price, model: `m${s.anon}` } } } };
    case 'anon-score':
      return { ...base, type: 'track', anonymousId, event: 'Scored', context: { scores: { churn: s.score } } };
    case 'anon-view':
      return { ...base, type: 'track', anonymousId, event: 'Product Viewed', properties: { category: s.cat, price: s.price } };
    case 'view':
      return { ...base, type: 'track', userId: `u${s.user}`, anonymousId, event: 'Product Viewed', properties: { category: s.cat, price: s.price } };
    default:
      return { ...base, type: 'track', userId: `u${s.user}`, event: 'Order Completed', properties: { category: s.cat, price: s.price, orderId: `o${i}` } };
  }
}

/** Every profile reachable from the generated identifiers, without its (arrival-dependent) id. */
async function snapshot(p: Portrait): Promise<string> {
  const out: string[] = [];
  for (let u = 0; u < 4; u++) {
    for (const [type, id] of [['user_id', `u${u}`], ['user_id', `legacy${u}`], ...[0, 1, 2].map((a) => ['anonymous_id', `a${u}_${a}`])] as const) {
      const v = await p.profile(type, id);
      if (v === undefined) {
        out.push(`${type}:${id} -`);
        continue;
      }
      const { id: _id, ...rest } = v;
      out.push(`${type}:${id} ${JSON.stringify(rest)}`);
    }
  }
  return out.join('\n');
}

async function run(messages: Record<string, unknown>[], chunks: number[]): Promise<string> {
  const { p } = await openMemory({ traits: [...TEN_TRAITS], scores: [{ name: 'churn', min: 0, max: 1 }, { name: 'ltv', min: 0 }] });
  await ingestInChunks(p, messages, chunks);
  assert.equal(p.stats().quarantined, 0, 'every generated message (scores included) is valid');
  const s = await snapshot(p);
  await p.close();
  return s;
}

describe('incremental state is independent of arrival order', () => {
  it('any order and chunking of the same events (with duplicates) gives the same profiles', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 10 }),
        fc.integer(),
        async (specs, chunksA, chunksB, seed) => {
          const messages = specs.map(toMessage);
          // Re-send a few messages: duplicates must have no effect.
          const withDupes = [...messages, ...messages.filter((_, i) => i % 5 === 0)];
          const shuffled = fc.sample(fc.shuffledSubarray(withDupes, { minLength: withDupes.length, maxLength: withDupes.length }), { seed, numRuns: 1 })[0]!;
          const a = await run(messages, chunksA);
          const b = await run(shuffled, chunksB);
          assert.equal(b, a);
        },
      ),
      { numRuns: 40 },
    );
  });
});
