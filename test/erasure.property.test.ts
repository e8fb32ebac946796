import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openMemory, T0 } from './support/open.ts';
import { TEN_TRAITS } from './support/workload.ts';

const DAY = 86_400_000;

/** Messages of a few users sharing anonymous ids and groups: merges, refused links, group calls. */
const message = fc.record({
  user: fc.integer({ min: 0, max: 4 }),
  anon: fc.integer({ min: 0, max: 3 }),
  kind: fc.constantFrom('view', 'order', 'identify', 'group', 'alias', 'anon-view'),
  t: fc.integer({ min: 0, max: 20 * DAY }),
  org: fc.integer({ min: 0, max: 1 }),
  plan: fc.constantFrom('free', 'pro'),
  city: fc.constantFrom('Lima', 'Oslo'),
});
type Spec = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toMessage(s: Spec, i: number): Record<string, unknown> {
  // Anonymous ids are shared across users now and then (a family computer): the guards refuse some links.
  const anonymousId = `a${(s.user + s.anon) % 6}`;
  const base = { messageId: `m${i}`, timestamp: T0 + s.t };
  switch (s.kind) {
    case 'identify':
      return { ...base, type: 'identify', userId: `u${s.user}`, anonymousId, traits: { city: s.city, email: `u${s.user}@x.org` } };
    case 'alias':
      return { ...base, type: 'alias', userId: `u${s.user}`, previousId: `legacy${s.user}` };
    case 'group':
      return { ...base, type: 'group', userId: `u${s.user}`, groupId: `org${s.org}`, traits: { plan: s.plan } };
    case 'anon-view':
      return { ...base, type: 'track', anonymousId, event: 'Product Viewed', properties: { category: 'books', price: 3 } };
    case 'view':
      return { ...base, type: 'track', userId: `u${s.user}`, anonymousId, event: 'Product Viewed', properties: { category: 'toys', price: 5 } };
    default:
      return { ...base, type: 'track', userId: `u${s.user}`, event: 'Order Completed', properties: { category: 'toys', price: 9, orderId: `o${i}` } };
  }
}

describe('erasure property', () => {
  it("for any workload, erasures interleaved with traffic and groups' manual tags leave state equal to a rebuild, no trace of the erased ids, and every group's tag", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 5, maxLength: 60 }),
        fc.array(fc.record({ after: fc.nat(), by: fc.constantFrom('user_id', 'anonymous_id', 'email'), who: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 3 }),
        // Manual tag decisions on the groups (accounts) the users join: no member's erasure takes them away.
        fc.array(fc.record({ after: fc.nat(), org: fc.integer({ min: 0, max: 1 }), on: fc.boolean() }), { maxLength: 3 }),
        async (specs, erasures, groupTags) => {
          const { p } = await openMemory({ traits: [...TEN_TRAITS], tags: [{ name: 'tier/gold' }] });
          try {
            const messages = specs.map(toMessage);
            const at = (after: number) => after % (messages.length + 1);
            const cuts = [...erasures.map((e) => ({ ...e, at: at(e.after) })), ...groupTags.map((g) => ({ ...g, at: at(g.after) }))].sort((a, b) => a.at - b.at);
            let sent = 0;
            const gone: string[] = [];
            const tagged = new Map<string, boolean>();
            for (const cut of cuts) {
              await p.ingest(messages.slice(sent, cut.at));
              sent = cut.at;
              if ('org' in cut) {
                await p.drain();
                // A group no call has made yet cannot be tagged: the call says so and appends nothing.
                const ok = await p.segments.tag('tier/gold', 'group_id', `org${cut.org}`, cut.on).then(
                  () => true,
                  (e: Error & { code?: string }) => {
                    if (e.code !== 'PORTRAIT_PROFILE_NOT_FOUND') throw e;
                    return false;
                  },
                );
                if (ok) tagged.set(`org${cut.org}`, cut.on);
                continue;
              }
              const id = cut.by === 'user_id' ? `u${cut.who}` : cut.by === 'email' ? `u${cut.who}@x.org` : `a${cut.who}`;
              const view = await p.profile(cut.by, id);
              await p.drain();
              const held = view ?? (await p.profile(cut.by, id));
              if (held === undefined) continue;
              gone.push(...held.identities.userIds.map((u) => `user:${u}`), ...held.identities.anonymousIds.map((a) => `anon:${a}`));
              const entry = await p.privacy.erase(cut.by, id);
              assert.equal((await p.privacy.waitFor(entry.id)).status, 'completed', 'each erasure completes');
              assert.equal(await p.profile(cut.by, id), undefined, `${cut.by} ${id} is gone`);
            }
            await p.ingest(messages.slice(sent));
            await p.drain();
            const incremental = await p.stateDump();
            for (const k of gone) assert.ok(!incremental.some((l) => l.includes(`"${k}"`)), `no state row names the erased ${k}`);
            for (const [org, on] of tagged) {
              const g = await p.profile('group_id', org);
              assert.ok(g !== undefined, `group ${org}, tagged, outlives its members' erasures`);
              const tags = (await p.segments.ofProfile({ workspace: 'default', id: g.id })).tags.map((t) => t.tag);
              assert.deepEqual(tags, on ? ['tier/gold'] : [], `group ${org} keeps its latest decision`);
            }
            await p.rebuild();
            assert.deepEqual(await p.stateDump(), incremental, 'a rebuild equals the incremental state after erasures');
          } finally {
            await p.close();
          }
        },
      ),
      { numRuns: 40, seed: 20261127 },
    );
  });
});
