/**
 * The filters of planDeliveries as invariants over random outbox rows: a
 * tag filter takes exactly the tag events of its tags and the tags below
 * them, and changes nothing for other kinds; a segment filter changes
 * nothing for tag events.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KINDS, type Destination } from './destination.ts';
import { planDeliveries, type OutboxRow } from './destination-store.ts';

const WORDS = ['interest', 'sports', 'football', 'music', 'value', 'high'];
const tagName = fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 3 }).map((w) => w.join('/'));
const row = fc.record({ kind: fc.constantFrom(...KINDS), tag: tagName, segment: fc.constantFrom('vip', 'churn') });

function destination(o: { tags: string[] | null; segments: string[] | null }): Destination {
  return { id: 'd', workspace: 'w', url: 'https://x.example/h', secret: 's'.repeat(16), kinds: [...KINDS], enabled: true, source: 'api', createdAt: 0, updatedAt: 0, ...o };
}

function outbox(rows: ReadonlyArray<{ kind: string; tag: string; segment: string }>): OutboxRow[] {
  return rows.map((r, i) => ({
    seq: i + 1,
    workspace: 'w',
    kind: r.kind,
    profileId: `p${i}`,
    payload: JSON.stringify(r.kind.startsWith('tag.') ? { tag: r.tag, source: 'manual' } : r.kind === 'profile.updated' ? {} : { segment: r.segment }),
    position: i + 1,
    createdAt: 0,
  }));
}

const covers = (filter: string, tag: string) => tag === filter || tag.startsWith(`${filter}/`);

describe('planDeliveries filters', () => {
  it('a tag filter takes exactly the tag events its tags cover, and leaves the other kinds to the other filters', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), fc.uniqueArray(tagName, { minLength: 1, maxLength: 3 }), fc.option(fc.constant<string[]>(['vip']), { nil: null }), fc.boolean(), (rows, tags, segments, member) => {
        const out = outbox(rows);
        const filtered = new Set(planDeliveries(destination({ tags, segments }), out, () => member).map((p) => p.outboxSeq));
        const unfiltered = new Set(planDeliveries(destination({ tags: null, segments }), out, () => member).map((p) => p.outboxSeq));
        for (const [i, r] of rows.entries()) {
          const seq = i + 1;
          if (r.kind.startsWith('tag.')) {
            assert.equal(filtered.has(seq), tags.some((t) => covers(t, r.tag)), `${r.kind} ${r.tag} with tags ${tags.join(',')}`);
            assert.equal(unfiltered.has(seq), true, 'a segment filter does not hold a tag event back');
          } else assert.equal(filtered.has(seq), unfiltered.has(seq), `${r.kind}: the tag filter changes nothing`);
        }
      }),
    );
  });
});
