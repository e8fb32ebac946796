/**
 * The SegmentStore contract: one suite every backend that keeps segments must
 * pass (run by segments.sqlite.test.ts and segments.postgres.test.ts). It
 * pins what live segments and the segment API rely on: memberships written
 * with the engine's commit, history, sizes, the schedule, manual tags, the
 * outbox, definitions and the backfill cursor.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Json } from '../core/event.ts';
import { changeset, profile, type StoreFactory } from './contract.ts';
import type { MembershipChange, SegmentDefinitionRow, SegmentStore, StateStore } from './store.ts';
import { scoped } from './store.ts';

const change = (segment: string, profileId: string, kind: MembershipChange['change'], time: number, position = time): MembershipChange => ({
  workspace: 'w',
  segment,
  profileId,
  change: kind,
  time,
  reason: kind === 'entered' ? 'event' : 'time',
  position,
});

const definition = (name: string, over: Partial<SegmentDefinitionRow> = {}): SegmentDefinitionRow => ({
  kind: 'segment',
  name,
  definition: { name, condition: { op: 'exists', ref: 'attributes.city' } } as Json,
  hash: `h-${name}`,
  version: 1,
  status: 'live',
  cursor: 0,
  after: 0,
  updatedAt: 1000,
  source: 'api',
  ...over,
});

function segmentsOf(store: StateStore): SegmentStore {
  assert.ok(store.segments, 'this store keeps segments');
  return store.segments;
}

export function segmentStoreContract(name: string, factory: StoreFactory, opts: { skip?: string | false } = {}): void {
  describe(`SegmentStore contract: ${name}`, { skip: opts.skip }, () => {
    const withStore = async (fn: (store: StateStore, seg: SegmentStore) => Promise<void>) => {
      const { store, dispose } = await factory.open();
      try {
        await fn(store, segmentsOf(store));
      } finally {
        await store.close();
        await dispose();
      }
    };

    it('writes memberships, history, sizes and the outbox with the commit; an enter and exit in one commit leave no member', () =>
      withStore(async (store, seg) => {
        await store.commit(
          changeset({
            position: 5,
            profiles: [profile('p1'), profile('p2'), profile('p3')],
            segments: {
              changes: [change('a', 'p1', 'entered', 10), change('a', 'p2', 'entered', 11), change('b', 'p3', 'entered', 12), change('b', 'p3', 'exited', 13)],
              schedule: [],
              sizes: [{ workspace: 'w', segment: 'a', at: 11, size: 2 }],
            },
            outbox: [{ workspace: 'w', kind: 'segment.entered', profileId: 'p1', payload: { segment: 'a' }, position: 5, createdAt: 10 }],
          }),
        );
        await store.commit(changeset({ position: 6, segments: { changes: [change('a', 'p1', 'exited', 20)], schedule: [], sizes: [{ workspace: 'w', segment: 'a', at: 20, size: 1 }] } }));
        assert.deepEqual(await seg.members('w', 'a', { limit: 10 }), [{ profileId: 'p2', since: 11 }], 'p1 left a, p2 stays');
        assert.deepEqual(await seg.members('w', 'b', { limit: 10 }), [], 'p3 entered and left b in one commit');
        const m = await seg.memberships([{ workspace: 'w', id: 'p2' }, { workspace: 'w', id: 'p3' }]);
        assert.deepEqual([...m.get(scoped('w', 'p2'))!], [['a', 11]], 'p2 memberships with since');
        assert.deepEqual([...m.get(scoped('w', 'p3'))!], [], 'every asked profile has an entry, empty when it is in nothing');
        const h = await seg.membershipHistory('w', 'p3', 10);
        assert.deepEqual(h.map((x) => `${x.segment} ${x.change} ${x.time}`), ['b exited 13', 'b entered 12'], 'history keeps both changes, newest first');
        assert.deepEqual(await seg.membershipHistory('w', 'p3', 1).then((x) => x.length), 1, 'history honours the limit');
        assert.deepEqual(await seg.sizeHistory('w', 'a', { limit: 10 }), [{ at: 20, size: 1 }, { at: 11, size: 2 }], 'sizes, newest first');
        assert.deepEqual(await seg.sizeHistory('w', 'a', { from: 12, limit: 10 }), [{ at: 20, size: 1 }], 'sizes from a time');
        assert.deepEqual((await seg.sizes()).map((z) => [z.workspace, z.segment, z.size]), [['w', 'a', 1]], 'current sizes counted from members');
        const out = await seg.outbox({ limit: 10 });
        assert.equal(out.length, 1, 'one outbox row');
        assert.deepEqual([out[0]!.kind, out[0]!.profileId, out[0]!.payload, out[0]!.position, out[0]!.createdAt], ['segment.entered', 'p1', { segment: 'a' }, 5, 10], 'the outbox row as written');
        assert.deepEqual(await seg.outbox({ after: out[0]!.seq, limit: 10 }), [], 'nothing after the last row');
      }));

    it('pages members by profile id, per workspace', () =>
      withStore(async (store, seg) => {
        const ids = ['p3', 'p1', 'p5', 'p2', 'p4'];
        await store.commit(changeset({ segments: { changes: [...ids.map((id, i) => change('a', id, 'entered', i + 1)), { ...change('a', 'p9', 'entered', 9), workspace: 'other' }], schedule: [], sizes: [] } }));
        const first = await seg.members('w', 'a', { limit: 2 });
        assert.deepEqual(first.map((m) => m.profileId), ['p1', 'p2'], 'first page in id order');
        const next = await seg.members('w', 'a', { after: 'p2', limit: 10 });
        assert.deepEqual(next.map((m) => m.profileId), ['p3', 'p4', 'p5'], 'the rest after the cursor');
        assert.deepEqual((await seg.members('other', 'a', { limit: 10 })).map((m) => m.profileId), ['p9'], 'another workspace sees its own members only');
      }));

    it('keeps the re-evaluation schedule: set, move, clear, due in time order', () =>
      withStore(async (store, seg) => {
        assert.equal(await seg.nextDue(), undefined, 'nothing scheduled yet');
        const at = (id: string, dueAt: number | null) => ({ workspace: 'w', profileId: id, dueAt });
        await store.commit(changeset({ segments: { changes: [], schedule: [at('p1', 300), at('p2', 100), at('p3', 200)], sizes: [] } }));
        await store.commit(changeset({ position: 2, segments: { changes: [], schedule: [at('p3', 50), at('p2', null)], sizes: [] } }));
        assert.equal(await seg.nextDue(), 50, 'the earliest due time');
        assert.deepEqual(await seg.due(250, 10), [{ workspace: 'w', id: 'p3', dueAt: 50 }], 'p3 moved earlier, p2 cleared, p1 not yet due');
        assert.deepEqual((await seg.due(1000, 1)).map((d) => d.id), ['p3'], 'due honours the limit, earliest first');
        const s = await seg.schedule([{ workspace: 'w', id: 'p1' }, { workspace: 'w', id: 'p2' }]);
        assert.deepEqual([...s], [[scoped('w', 'p1'), 300]], 'stored due times of the asked profiles');
      }));

    it('saves, updates and deletes definitions; deleting one drops its members and, for a tag, its manual tags', () =>
      withStore(async (store, seg) => {
        await seg.saveDefinitions([definition('b'), definition('a'), definition('x', { kind: 'tag', name: 'value/high' })]);
        await seg.saveDefinitions([definition('a', { version: 2, hash: 'h2', status: 'backfilling', cursor: 7, after: 9 })]);
        const defs = await seg.definitions();
        assert.deepEqual(defs.map((d) => `${d.kind} ${d.name} v${d.version}`), ['segment a v2', 'segment b v1', 'tag value/high v1'], 'sorted by kind and name; a updated');
        assert.deepEqual([defs[0]!.status, defs[0]!.cursor, defs[0]!.after, defs[0]!.source], ['backfilling', 7, 9, 'api'], 'every field round-trips');
        await store.commit(changeset({ segments: { changes: [change('a', 'p1', 'entered', 1), change('tag:value/high', 'p1', 'entered', 2)], schedule: [], sizes: [] } }));
        assert.equal(await seg.setTag('w', 'value/high', 'p2', 3), true, 'a manual tag on p2');
        await seg.deleteDefinition('segment', 'a');
        assert.deepEqual(await seg.members('w', 'a', { limit: 10 }), [], 'members of a deleted segment are gone');
        await seg.deleteDefinition('tag', 'value/high');
        assert.deepEqual(await seg.tagMembers('w', 'value/high', { limit: 10 }), [], 'rule and manual members of a deleted tag are gone');
        assert.deepEqual((await seg.definitions()).map((d) => d.name), ['b'], 'only b is left');
      }));

    it('manual tags: set and unset once, listed with rule tags, counted and paged', () =>
      withStore(async (store, seg) => {
        assert.equal(await seg.setTag('w', 'interest/sports', 'p1', 5), true, 'set');
        assert.equal(await seg.setTag('w', 'interest/sports', 'p1', 6), false, 'setting again changes nothing');
        await seg.setTag('w', 'interest/music', 'p2', 7);
        await store.commit(changeset({ segments: { changes: [change('tag:value/high', 'p1', 'entered', 8), change('tag:interest/sports', 'p2', 'entered', 9)], schedule: [], sizes: [] } }));
        assert.deepEqual(await seg.profileTags('w', 'p1'), [{ tag: 'interest/sports', since: 5, source: 'manual' }, { tag: 'value/high', since: 8, source: 'rule' }], 'p1 tags, by name');
        assert.deepEqual(await seg.tagCounts('w'), [{ tag: 'interest/music', count: 1 }, { tag: 'interest/sports', count: 2 }, { tag: 'value/high', count: 1 }], 'counts per tag');
        assert.deepEqual(await seg.tagMembers('w', 'interest/sports', { limit: 10 }), [{ profileId: 'p1', since: 5 }, { profileId: 'p2', since: 9 }], 'manual and rule members');
        assert.deepEqual(await seg.tagMembers('w', 'interest/sports', { after: 'p1', limit: 10 }), [{ profileId: 'p2', since: 9 }], 'paged after a profile id');
        assert.deepEqual(
          await seg.storedManualTags(),
          [
            { workspace: 'w', tag: 'interest/music', profileId: 'p2', since: 7 },
            { workspace: 'w', tag: 'interest/sports', profileId: 'p1', since: 5 },
          ],
          'the stored manual tags, rule memberships apart',
        );
        assert.equal(await seg.unsetTag('w', 'interest/sports', 'p1'), true, 'unset');
        assert.equal(await seg.unsetTag('w', 'interest/sports', 'p1'), false, 'unsetting again changes nothing');
        assert.deepEqual(await seg.tagCounts('other'), [], 'another workspace has no tags');
      }));

    it('walks profiles in storage order for backfills, and finds memberships of deleted profiles', () =>
      withStore(async (store, seg) => {
        assert.equal(await seg.lastProfileCursor(), 0, 'no profiles yet');
        await store.commit(changeset({ profiles: [profile('p2'), profile('p1')] }));
        await store.commit(changeset({ position: 2, profiles: [profile('p3'), profile('p1', { eventCount: 2 })] }));
        const all = await seg.profilesAfter(0, 10);
        assert.deepEqual(all.map((x) => x.doc.id).sort(), ['p1', 'p2', 'p3'], 'every profile once, updates included');
        const cursors = all.map((x) => x.cursor);
        assert.deepEqual(cursors, [...cursors].sort((a, b) => a - b), 'cursors increase');
        assert.equal(await seg.lastProfileCursor(), cursors[cursors.length - 1], 'the last cursor');
        const rest = await seg.profilesAfter(cursors[0]!, 10);
        assert.deepEqual(rest.map((x) => x.cursor), cursors.slice(1), 'resumes after a cursor');
        assert.equal(all.find((x) => x.doc.id === 'p1')!.doc.eventCount, 2, 'the current document');
        await store.commit(changeset({ position: 3, segments: { changes: [change('a', 'p1', 'entered', 1), change('a', 'gone', 'entered', 1)], schedule: [], sizes: [] } }));
        assert.deepEqual(await seg.orphanMemberships(10), [{ workspace: 'w', id: 'gone' }], 'a membership without a profile');
      }));
  });
}
