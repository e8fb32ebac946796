/**
 * The StateStore contract: one suite every backend must pass (run by
 * store.sqlite.test.ts and store.postgres.test.ts). It pins the behaviour the
 * engine and the API rely on, method by method, and the exact dump format, so
 * that two backends holding the same state dump the same lines.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { IdentityLink, MergeRecord } from '../core/identity.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { isPortraitError } from '../core/errors.ts';
import type { Migratable } from './migrations.ts';
import type { Changeset, DefinitionRow, HistoryEntry, StateStore } from './store.ts';
import { emptyChangeset, scoped } from './store.ts';

export type ContractStore = StateStore & Migratable;

export interface StoreFactory {
  /** A new, empty store, and how to dispose of it. */
  open(): Promise<{ store: ContractStore; dispose: () => Promise<void> }>;
}

export function changeset(over: Partial<Changeset> = {}): Changeset {
  return { ...emptyChangeset(0, 1), ...over };
}

export function profile(id: string, over: Partial<ProfileDoc> = {}, workspace = 'w'): ProfileDoc {
  return { ...emptyProfile(id, workspace, 'user', 1), identifiers: [`user:${id}`], eventCount: 1, ...over };
}

const link = (a: string, b: string, position: number, over: Partial<IdentityLink> = {}): IdentityLink => ({
  workspace: 'w',
  a,
  b,
  via: 'identify',
  position,
  messageId: `m${position}`,
  time: 1000 + position,
  ...over,
});

const merge = (into: string, from: string, position: number, over: Partial<MergeRecord> = {}): MergeRecord => ({
  kind: 'merge',
  workspace: 'w',
  into,
  from,
  a: `user:${into}`,
  b: `anon:${from}`,
  position,
  messageId: `m${position}`,
  time: 2000 + position,
  ...over,
});

const entry = (profileId: string, position: number, value: number): HistoryEntry => ({
  workspace: 'w',
  profileId,
  position,
  messageId: `m${position}`,
  time: 3000 + position,
  changes: { 'trait.count': [value - 1 === 0 ? undefined : value - 1, value] },
});

const definition = (name: string, over: Partial<DefinitionRow> = {}): DefinitionRow => ({
  name,
  hash: `h-${name}`,
  version: 1,
  definition: { name, kind: 'count', filter: { event: 'x' } },
  status: 'live',
  backfillCursor: 0,
  backfillTarget: 0,
  updatedAt: 5,
  source: 'config',
  ...over,
});

async function rejectsStale(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER', message);
}

export function storeContract(backend: string, factory: StoreFactory, opts: { skip?: string | false } = {}): void {
  describe(`StateStore contract: ${backend}`, { skip: opts.skip }, () => {
    const withStore = (name: string, body: (s: ContractStore) => Promise<void>) =>
      it(name, async () => {
        const { store, dispose } = await factory.open();
        try {
          await body(store);
        } finally {
          await store.close();
          await dispose();
        }
      });

    withStore('opens migrated: no pending migration, and migrate() again applies nothing', async (s) => {
      const status = await s.migrationStatus();
      assert.equal(status.pending.length, 0, 'a freshly opened store has no pending migration');
      assert.ok(status.current >= 1, 'version 1 (the first schema) is applied');
      assert.deepEqual(status.applied.map((a) => a.version), Array.from({ length: status.current }, (_, i) => i + 1), 'versions 1..current are recorded');
      assert.deepEqual(await s.migrate(), [], 'migrating an up-to-date store applies nothing');
    });

    withStore('position: 0 before any commit, then the committed position, per partition', async (s) => {
      assert.equal(await s.position(0), 0, 'an empty store is at position 0');
      await s.commit(changeset({ partition: 0, position: 7 }));
      await s.commit(changeset({ partition: 3, position: 2 }));
      assert.equal(await s.position(0), 7, 'partition 0 holds its position');
      assert.equal(await s.position(3), 2, 'partition 3 holds its own');
      assert.equal(await s.position(1), 0, 'an untouched partition is at 0');
      await s.commit(changeset({ partition: 0, position: 9 }));
      assert.equal(await s.position(0), 9, 'a later commit moves the position');
    });

    withStore('profiles: upsert, read by key, delete; workspaces are separate', async (s) => {
      const a = profile('a', { eventCount: 2, attributes: { city: { v: '上海', t: 5, id: 'm1' } } });
      await s.commit(changeset({ profiles: [a, profile('b'), profile('a', {}, 'other')] }));
      const got = await s.profiles([{ workspace: 'w', id: 'a' }, { workspace: 'w', id: 'missing' }, { workspace: 'other', id: 'a' }]);
      assert.deepEqual(got.get(scoped('w', 'a')), a, 'the document round-trips exactly, unicode included');
      assert.equal(got.has(scoped('w', 'missing')), false, 'a missing profile is absent from the map');
      assert.equal(got.get(scoped('other', 'a'))?.workspace, 'other', 'the same id in another workspace is another profile');
      assert.equal(await s.profileCount(), 3, 'three profiles in all');
      assert.equal(await s.profileCount('w'), 2, 'two in workspace w');
      await s.commit(changeset({ position: 2, profiles: [profile('a', { eventCount: 3 })], deletedProfiles: [{ workspace: 'w', id: 'b' }] }));
      const after = await s.profiles([{ workspace: 'w', id: 'a' }, { workspace: 'w', id: 'b' }]);
      assert.equal(after.get(scoped('w', 'a'))?.eventCount, 3, 'an upsert replaces the document');
      assert.equal(after.has(scoped('w', 'b')), false, 'a deleted profile is gone');
      assert.deepEqual(await s.profiles([]), new Map(), 'no keys, empty map');
    });

    withStore('scanProfiles: visits every profile of the workspace that may match, and no other', async (s) => {
      const city = (v: string) => ({ city: { v, t: 1, id: 'm' } });
      const many = Array.from({ length: 2500 }, (_, i) => profile(`p${String(i).padStart(4, '0')}`, { attributes: city(i % 5 === 0 ? 'Lima' : 'Oslo') }));
      await s.commit(changeset({ profiles: [...many, profile('x', { attributes: city('Lima') }, 'other')] }));
      const seen: string[] = [];
      const n = await s.scanProfiles('w', [], (d) => seen.push(`${d.workspace}/${d.id}`));
      assert.equal(n, 2500, 'the count is what was visited');
      assert.deepEqual(seen.sort(), many.map((d) => `w/${d.id}`).sort(), 'every profile of w once, none of another workspace');
      const lima: ProfileDoc[] = [];
      await s.scanProfiles('w', [{ attribute: 'city', op: 'eq', value: 'Lima' }], (d) => lima.push(d));
      const wanted = many.filter((d) => d.attributes.city?.v === 'Lima').map((d) => d.id);
      const got = new Set(lima.map((d) => d.id));
      assert.ok(wanted.every((id) => got.has(id)), 'a prefilter may let extra profiles through but never drops a match');
      assert.ok(lima.every((d) => d.workspace === 'w'), 'prefiltered scans stay in the workspace');
    });

    /** Profiles of w with ids whose UTF-16 order differs from their code point order, members of segment `s`, and elsewhere. */
    const pagesFixture = async (s: ContractStore): Promise<string[]> => {
      const city = (v: string) => ({ city: { v, t: 1, id: 'm' } });
      // By code point: 'B' < 'a' < 'p1' < 'p10' < 'p2' < 'é' < 'ｚ' (U+FF5A) < '😀' (U+1F600); by UTF-16 unit '😀' would come before 'ｚ'.
      const ids = ['p2', '😀', 'a', 'p10', 'ｚ', 'B', 'é', 'p1'];
      const enter = (profileId: string, workspace = 'w', segment = 's') => ({ workspace, segment, profileId, change: 'entered' as const, time: 1, reason: 'event', position: 1 });
      await s.commit(
        changeset({
          profiles: [...ids.map((id, i) => profile(id, { eventCount: i + 1, attributes: city(i % 2 === 0 ? 'Lima' : 'Oslo') })), profile('p3', {}, 'other')],
          // A membership of a profile that no longer exists, one in another workspace and one in another segment.
          segments: { changes: [...['p2', '😀', 'a', 'ｚ', 'p1'].map((id) => enter(id)), enter('gone'), enter('p3', 'other'), enter('B', 'w', 't')], schedule: [], sizes: [] },
        }),
      );
      return ['B', 'a', 'p1', 'p10', 'p2', 'é', 'ｚ', '😀'];
    };
    const idsOf = (page: { docs: ProfileDoc[] }) => page.docs.map((d) => d.id);

    withStore('profilePage: a page of a workspace in id order by code point, after an id, with an offset, either way; the total without the page', async (s) => {
      const all = await pagesFixture(s);
      const first = await s.profilePage('w', { desc: false, offset: 0, limit: 3 });
      assert.deepEqual(idsOf(first), all.slice(0, 3), 'the first three ids by code point');
      assert.equal(first.total, all.length, 'the total counts the whole workspace');
      assert.deepEqual(first.docs[0], profile('B', { eventCount: 6, attributes: { city: { v: 'Oslo', t: 1, id: 'm' } } }), 'documents come back as written');
      assert.deepEqual(idsOf(await s.profilePage('w', { after: 'p2', desc: false, offset: 0, limit: 10 })), ['é', 'ｚ', '😀'], 'after an id: the ids above it');
      assert.deepEqual(idsOf(await s.profilePage('w', { after: 'a', desc: false, offset: 2, limit: 2 })), ['p2', 'é'], 'after an id, two skipped');
      assert.deepEqual(idsOf(await s.profilePage('w', { desc: true, offset: 1, limit: 3 })), ['ｚ', 'é', 'p2'], 'descending, one skipped');
      assert.deepEqual(idsOf(await s.profilePage('w', { after: 'p1', desc: true, offset: 0, limit: 10 })), ['a', 'B'], 'descending after an id: the ids below it');
      const none = await s.profilePage('w', { after: '😀', desc: false, offset: 0, limit: 10 });
      assert.deepEqual([idsOf(none), none.total], [[], all.length], 'past the last id: no profile, the same total');
      assert.deepEqual(await s.profilePage('nobody', { desc: false, offset: 0, limit: 10 }), { docs: [], total: 0 }, 'an empty workspace');
    });

    withStore("profilePage, profileCount and scanProfiles with a segment: that segment's members of the workspace that have a profile, and no other", async (s) => {
      await pagesFixture(s);
      const members = ['a', 'p1', 'p2', 'ｚ', '😀'];
      assert.equal(await s.profileCount('w', 's'), members.length, 'the count leaves out a membership without a profile and those of other workspaces');
      assert.equal(await s.profileCount('w', 't'), 1, 'another segment');
      assert.equal(await s.profileCount('w', 'nothing'), 0, 'a segment without members');
      assert.equal(await s.profileCount('w'), 8, 'without a segment: the workspace');
      const page = await s.profilePage('w', { segment: 's', desc: false, offset: 1, limit: 3 });
      assert.deepEqual([idsOf(page), page.total], [members.slice(1, 4), members.length], 'a page of members in id order, one skipped, and their count');
      assert.deepEqual(idsOf(await s.profilePage('w', { segment: 's', after: 'p2', desc: true, offset: 0, limit: 10 })), ['p1', 'a'], 'descending after an id');
      assert.equal(page.docs[0]!.attributes.city?.v, 'Oslo', 'member documents come back readable');
      const seen: string[] = [];
      const n = await s.scanProfiles('w', [], (d) => seen.push(`${d.workspace}/${d.id}`), 's');
      assert.equal(n, members.length, 'the scan visits the members');
      assert.deepEqual(seen.sort(), members.map((id) => `w/${id}`).sort(), 'each member with a profile once, nothing else');
      const lima: string[] = [];
      await s.scanProfiles('w', [{ attribute: 'city', op: 'eq', value: 'Lima' }], (d) => lima.push(d.id), 's');
      assert.ok(['p2', 'a', 'ｚ'].every((id) => lima.includes(id)), 'a prefilter never drops a matching member');
      assert.ok(lima.every((id) => members.includes(id)), 'nor lets in a profile outside the segment');
    });

    withStore('profiles: the last of two writes of one profile in a changeset wins', async (s) => {
      await s.commit(changeset({ profiles: [profile('a', { eventCount: 1 }), profile('a', { eventCount: 2 })] }));
      assert.equal((await s.profiles([{ workspace: 'w', id: 'a' }])).get(scoped('w', 'a'))?.eventCount, 2, 'the later document is kept');
    });

    withStore('identities: upsert, re-point and delete', async (s) => {
      await s.commit(changeset({ identities: [{ workspace: 'w', ident: 'user:1', profileId: 'p1' }, { workspace: 'w', ident: 'anon:x', profileId: 'p2' }] }));
      await s.commit(changeset({ position: 2, identities: [{ workspace: 'w', ident: 'anon:x', profileId: 'p1' }], deletedIdentities: [{ workspace: 'w', ident: 'user:1' }] }));
      const got = await s.identities([{ workspace: 'w', ident: 'user:1' }, { workspace: 'w', ident: 'anon:x' }, { workspace: 'v', ident: 'anon:x' }]);
      assert.deepEqual([...got], [[scoped('w', 'anon:x'), 'p1']], 'anon:x moved to p1, user:1 deleted, other workspace absent');
    });

    withStore('identities: equal a map model after any sequence of upserts and deletes', async (s) => {
      const op = fc.record({ ident: fc.constantFrom('user:1', 'user:2', 'anon:a', 'anon:b'), profileId: fc.option(fc.constantFrom('p1', 'p2', 'p3'), { nil: undefined }) });
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(op, { maxLength: 4 }), { maxLength: 5 }), async (commits) => {
          await s.clearDerived();
          const model = new Map<string, string>();
          let position = 0;
          for (const ops of commits) {
            const identities = ops.filter((o) => o.profileId !== undefined).map((o) => ({ workspace: 'w', ident: o.ident, profileId: o.profileId! }));
            const deleted = ops.filter((o) => o.profileId === undefined).map((o) => ({ workspace: 'w', ident: o.ident }));
            // A changeset applies deletions before upserts.
            for (const d of deleted) model.delete(scoped('w', d.ident));
            for (const i of identities) model.set(scoped('w', i.ident), i.profileId);
            await s.commit(changeset({ position: ++position, identities, deletedIdentities: deleted }));
          }
          const keys = ['user:1', 'user:2', 'anon:a', 'anon:b'].map((ident) => ({ workspace: 'w', ident }));
          assert.deepEqual(new Map([...(await s.identities(keys))].sort()), new Map([...model].sort()), 'the store agrees with the model');
        }),
        { numRuns: 15 },
      );
    });

    withStore('links: linksAmong finds either end, in position order; a deletion removes both directions', async (s) => {
      await s.commit(changeset({ links: [link('user:1', 'anon:a', 3), link('anon:b', 'user:1', 2), link('user:2', 'anon:c', 1), link('user:1', 'anon:a', 4, { workspace: 'v' })] }));
      const among = await s.linksAmong('w', ['user:1']);
      assert.deepEqual(among.map((l) => [l.a, l.b, l.position]), [['anon:b', 'user:1', 2], ['user:1', 'anon:a', 3]], 'both links of user:1 in w, by position');
      assert.deepEqual(among[1], link('user:1', 'anon:a', 3), 'every field round-trips');
      assert.deepEqual(await s.linksAmong('w', []), [], 'no identifiers, no links');
      await s.commit(changeset({ position: 2, deletedLinks: [{ workspace: 'w', a: 'user:1', b: 'anon:b' }], links: [link('user:1', 'anon:a', 5, { via: 'alias' })] }));
      const after = await s.linksAmong('w', ['user:1', 'anon:c']);
      assert.deepEqual(after.map((l) => [l.a, l.b, l.via, l.position]), [['user:2', 'anon:c', 'identify', 1], ['user:1', 'anon:a', 'alias', 5]], 'the reversed pair is deleted and a re-written link replaces the old one');
    });

    withStore('blocked links: recorded once, listed in order', async (s) => {
      await s.commit(changeset({ blockedLinks: [{ workspace: 'w', a: 'user:2', b: 'anon:z' }, { workspace: 'w', a: 'user:1', b: 'anon:a' }, { workspace: 'w', a: 'user:1', b: 'anon:a' }] }));
      await s.commit(changeset({ position: 2, blockedLinks: [{ workspace: 'a', a: 'user:1', b: 'anon:a' }] }));
      assert.deepEqual(
        await s.blockedLinks(),
        [
          { workspace: 'a', a: 'user:1', b: 'anon:a' },
          { workspace: 'w', a: 'user:1', b: 'anon:a' },
          { workspace: 'w', a: 'user:2', b: 'anon:z' },
        ],
        'duplicates collapse; ordered by workspace, a, b',
      );
    });

    withStore('text sorts byte-wise on every backend (upper case before lower case before non-ASCII)', async (s) => {
      await s.commit(changeset({ blockedLinks: ['é', 'a', 'B', 'Z', 'b'].map((x) => ({ workspace: 'w', a: `user:${x}`, b: 'anon:x' })) }));
      assert.deepEqual((await s.blockedLinks()).map((l) => l.a), ['user:B', 'user:Z', 'user:a', 'user:b', 'user:é'], 'byte order, not a locale order');
    });

    withStore('merges: listed for either side, in the order written', async (s) => {
      await s.commit(changeset({ merges: [merge('p1', 'p2', 5), merge('p3', 'p1', 4, { kind: 'unmerge' })] }));
      await s.commit(changeset({ position: 2, merges: [merge('p9', 'p8', 6), merge('p1', 'p7', 1)] }));
      const got = await s.merges('w', 'p1');
      assert.deepEqual(got.map((m) => [m.kind, m.into, m.from]), [['merge', 'p1', 'p2'], ['unmerge', 'p3', 'p1'], ['merge', 'p1', 'p7']], 'write order, not position order');
      assert.deepEqual(got[0], merge('p1', 'p2', 5), 'every field round-trips');
      assert.deepEqual(await s.merges('w', 'nobody'), [], 'no merges for an unknown profile');
    });

    withStore('identity conflicts: one per (workspace, reason, a, b); attribute conflicts keep JSON values', async (s) => {
      const conflict = { workspace: 'w', reason: 'different_user_ids' as const, a: 'user:1', b: 'user:2', profileA: 'p1', profileB: 'p2', position: 3, messageId: 'm3', time: 9 };
      await s.commit(changeset({ identityConflicts: [conflict, { ...conflict, position: 4 }, { ...conflict, reason: 'anonymous_cap' }] }));
      await s.commit(changeset({ position: 2, identityConflicts: [{ ...conflict, position: 5 }] }));
      const got = await s.identityConflicts('w');
      assert.deepEqual(got, [conflict, { ...conflict, reason: 'anonymous_cap' }], 'the first of each kind is kept, in order');
      assert.deepEqual(await s.identityConflicts('v'), [], 'other workspaces see none');
      const attr = { workspace: 'w', profileId: 'p1', attribute: 'age', reason: 'type' as const, kept: { n: [1, 'x', null] }, rejected: 'old', position: 6, messageId: 'm6' };
      await s.commit(changeset({ position: 3, attributeConflicts: [attr, { ...attr, profileId: 'p2' }, { ...attr, attribute: 'city', kept: null }] }));
      assert.deepEqual(await s.attributeConflicts('w', 'p1'), [attr, { ...attr, attribute: 'city', kept: null }], 'values round-trip, per profile, in order');
    });

    withStore('history: newest first, paged by limit and before', async (s) => {
      // Three commits; the second holds two entries of p1.
      await s.commit(changeset({ position: 1, history: [entry('p1', 1, 1), entry('p2', 1, 1)] }));
      await s.commit(changeset({ position: 3, history: [entry('p1', 2, 2), entry('p1', 3, 3)] }));
      await s.commit(changeset({ position: 4, history: [entry('p1', 4, 4)] }));
      const all = await s.history('w', 'p1');
      assert.deepEqual(all.map((h) => h.position), [4, 3, 2, 1], 'all entries, newest first');
      assert.deepEqual(all[1], entry('p1', 3, 3), 'every field round-trips');
      assert.deepEqual((await s.history('w', 'p1', { limit: 2 })).map((h) => h.position), [4, 3], 'limit');
      assert.deepEqual((await s.history('w', 'p1', { before: 3, limit: 10 })).map((h) => h.position), [2, 1], 'before cuts inside a commit');
      assert.deepEqual((await s.history('w', 'p1', { before: 3, limit: 1 })).map((h) => h.position), [2], 'before and limit together');
      assert.deepEqual(await s.history('w', 'p3'), [], 'no history for an unknown profile');
    });

    withStore('definitions: saved, upserted (also inside a commit), deleted, listed by name', async (s) => {
      await s.saveDefinitions([definition('b', { source: 'api' }), definition('a', { status: 'backfilling', backfillCursor: 3, backfillTarget: 10 })]);
      assert.deepEqual(await s.definitions(), [definition('a', { status: 'backfilling', backfillCursor: 3, backfillTarget: 10 }), definition('b', { source: 'api' })], 'listed by name, with their source');
      await s.commit(changeset({ definitions: [definition('a', { version: 2, hash: 'h2', backfillCursor: 10, backfillTarget: 10 })] }));
      await s.deleteDefinition('b');
      assert.deepEqual(await s.definitions(), [definition('a', { version: 2, hash: 'h2', backfillCursor: 10, backfillTarget: 10 })], 'upserted in the commit; b deleted');
      await s.saveDefinitions([]);
      assert.equal((await s.definitions()).length, 1, 'saving nothing changes nothing');
    });

    withStore('quarantine: a digest finds the row already stored for it, in its workspace, whatever its status; no digest, a row each time', async (s) => {
      const reason = [{ path: '/userId', message: 'required' }];
      const first = await s.quarantine({ workspace: 'w', receivedAt: 1, raw: '{"messageId":"m1"}', reason, digest: 'd1' });
      const again = await s.quarantine({ workspace: 'w', receivedAt: 2, raw: '{"messageId":"m1"}', reason, digest: 'd1' });
      assert.equal(again, first, 'the same message finds its row');
      assert.deepEqual((await s.quarantined('w')).map((q) => [q.id, q.receivedAt]), [[first, 1]], 'one row, as first received');
      const elsewhere = await s.quarantine({ workspace: 'v', receivedAt: 3, raw: '{"messageId":"m1"}', reason, digest: 'd1' });
      assert.notEqual(elsewhere, first, 'another workspace keeps its own');
      await s.markResubmitted('w', first);
      assert.equal(await s.quarantine({ workspace: 'w', receivedAt: 4, raw: '{"messageId":"m1"}', reason, digest: 'd1' }), first, 'found after its re-submission too');
      assert.deepEqual((await s.quarantined('w')).map((q) => q.id), [], 'and stays re-submitted');
      const a = await s.quarantine({ workspace: 'w', receivedAt: 5, raw: '{}', reason });
      const b = await s.quarantine({ workspace: 'w', receivedAt: 6, raw: '{}', reason });
      assert.ok(a !== b && a !== first, 'without a digest every call is a new row');
    });

    withStore('quarantine: ids increase; listed by workspace, status and cursor; re-submission', async (s) => {
      const id1 = await s.quarantine({ workspace: 'w', receivedAt: 1, raw: '{"bad":', reason: [{ path: '', message: 'not JSON' }] });
      const id2 = await s.quarantine({ workspace: 'w', receivedAt: 2, raw: '{}', reason: [{ path: '/type', message: 'missing' }] });
      const id3 = await s.quarantine({ workspace: 'v', receivedAt: 3, raw: '{}', reason: null });
      assert.ok(id1 < id2 && id2 < id3, 'ids increase');
      assert.deepEqual(
        await s.quarantined('w'),
        [
          { id: id1, workspace: 'w', receivedAt: 1, raw: '{"bad":', reason: [{ path: '', message: 'not JSON' }], status: 'open' },
          { id: id2, workspace: 'w', receivedAt: 2, raw: '{}', reason: [{ path: '/type', message: 'missing' }], status: 'open' },
        ],
        'open rows of w, oldest first',
      );
      assert.deepEqual((await s.quarantined('w', { after: id1 })).map((q) => q.id), [id2], 'after is a cursor');
      assert.deepEqual((await s.quarantined('w', { limit: 1 })).map((q) => q.id), [id1], 'limit');
      await s.markResubmitted('w', id1);
      await s.markResubmitted('w', id3); // another workspace's row: untouched
      assert.deepEqual((await s.quarantined('w')).map((q) => q.id), [id2], 'a re-submitted row leaves the open list');
      assert.deepEqual((await s.quarantined('w', { status: 'resubmitted' })).map((q) => q.id), [id1], 'and is listed as re-submitted');
      assert.equal((await s.quarantinedById('v', id3))?.status, 'open', 'marking is scoped by workspace');
      assert.equal(await s.quarantinedById('w', id3), undefined, 'another workspace cannot read a row');
    });

    withStore('keys: saved with a binary hash, listed, revoked once', async (s) => {
      const k1 = { id: 'k1', workspace: 'w', secretHash: Buffer.from([0, 1, 2, 255]), scopes: ['write', 'read'], label: 'ingest', createdAt: 10, revokedAt: null };
      const k2 = { ...k1, id: 'k2', workspace: 'v', createdAt: 5 };
      await s.saveKey(k1);
      await s.saveKey(k2);
      const got = await s.key('k1');
      assert.ok(got && Buffer.isBuffer(got.secretHash), 'the hash comes back as a Buffer');
      assert.deepEqual({ ...got, secretHash: [...got.secretHash] }, { ...k1, secretHash: [0, 1, 2, 255] }, 'every field round-trips');
      assert.equal(await s.key('nope'), undefined, 'an unknown key is undefined');
      assert.deepEqual((await s.keys()).map((k) => k.id), ['k2', 'k1'], 'all keys by creation time');
      assert.deepEqual((await s.keys('w')).map((k) => k.id), ['k1'], 'keys of one workspace');
      assert.equal(await s.revokeKey('k1', 99), true, 'revoking a live key');
      assert.equal(await s.revokeKey('k1', 100), false, 'a revoked key cannot be revoked again');
      assert.equal((await s.key('k1'))?.revokedAt, 99, 'the first revocation time stays');
    });

    const sample = (): Changeset =>
      changeset({
        position: 4,
        profiles: [profile('p2'), profile('p1', { attributes: { plan: { v: 'pro', t: 1, id: 'm1' } } })],
        identities: [{ workspace: 'w', ident: 'user:p1', profileId: 'p1' }],
        links: [link('user:p1', 'anon:a', 1)],
        blockedLinks: [{ workspace: 'w', a: 'user:p2', b: 'anon:b' }],
        merges: [merge('p1', 'p3', 2)],
        identityConflicts: [{ workspace: 'w', reason: 'unlinked', a: 'user:p2', b: 'anon:b', profileA: 'p2', profileB: 'p9', position: 3, messageId: 'm3', time: 7 }],
        attributeConflicts: [{ workspace: 'w', profileId: 'p1', attribute: 'plan', reason: 'stale', kept: 'pro', rejected: 'free', position: 4, messageId: 'm4' }],
        history: [entry('p1', 1, 1), entry('p1', 4, 2)],
      });

    withStore('dump: the canonical lines every backend produces for the same state', async (s) => {
      await s.commit(sample());
      const p1 = JSON.stringify({ attributes: { plan: { id: 'm1', t: 1, v: 'pro' } }, createdAt: 1, eventCount: 1, firstSeen: 0, groups: [], id: 'p1', identifiers: ['user:p1'], kind: 'user', lastSeen: 0, traits: {}, workspace: 'w' });
      assert.deepEqual(
        await s.dump(),
        [
          'position [{"partition":0,"position":4}]',
          `profile w p1 ${p1}`,
          `profile w p2 ${p1.replace('{"plan":{"id":"m1","t":1,"v":"pro"}}', '{}').replace(/p1/g, 'p2')}`,
          'identities {"ident":"user:p1","profile_id":"p1","workspace":"w"}',
          'identity_links {"a":"user:p1","b":"anon:a","message_id":"m1","position":1,"time":1001,"via":"identify","workspace":"w"}',
          'blocked_links {"a":"user:p2","b":"anon:b","workspace":"w"}',
          'merges {"a":"user:p1","b":"anon:p3","from_id":"p3","into_id":"p1","kind":"merge","message_id":"m2","position":2,"seq":1,"time":2002,"workspace":"w"}',
          'identity_conflicts {"a":"user:p2","b":"anon:b","message_id":"m3","position":3,"profile_a":"p2","profile_b":"p9","reason":"unlinked","seq":1,"time":7,"workspace":"w"}',
          'attribute_conflicts {"attribute":"plan","kept":"\\"pro\\"","message_id":"m4","position":4,"profile_id":"p1","reason":"stale","rejected":"\\"free\\"","seq":1,"workspace":"w"}',
          'trait_history w p1 {"changes":{"trait.count":[null,1]},"messageId":"m1","position":1,"time":3001}',
          'trait_history w p1 {"changes":{"trait.count":[1,2]},"messageId":"m4","position":4,"time":3004}',
        ],
        'the dump lists all derived state in canonical order',
      );
    });

    withStore('clearDerived: empties derived state, keeps definitions, quarantine and keys; a refill dumps the same', async (s) => {
      await s.commit(sample());
      const before = await s.dump();
      await s.saveDefinitions([definition('a')]);
      const q = await s.quarantine({ workspace: 'w', receivedAt: 1, raw: '{}', reason: null });
      await s.saveKey({ id: 'k', workspace: 'w', secretHash: Buffer.from([1]), scopes: [], label: '', createdAt: 1, revokedAt: null });
      await s.clearDerived();
      assert.deepEqual(await s.dump(), ['position []'], 'no derived state is left');
      assert.equal(await s.position(0), 0, 'positions are reset');
      assert.equal(await s.profileCount(), 0, 'no profiles');
      assert.equal((await s.definitions()).length, 1, 'definitions are kept');
      assert.equal((await s.quarantinedById('w', q))?.id, q, 'quarantine is kept');
      assert.equal((await s.key('k'))?.id, 'k', 'keys are kept');
      await s.commit(sample());
      assert.deepEqual(await s.dump(), before, 'refilling gives the same dump, sequence numbers included');
    });

    withStore('stale writer: a commit expecting another position fails and writes nothing', async (s) => {
      await s.commit(changeset({ position: 5, expectPosition: 0, profiles: [profile('a')] }));
      assert.equal(await s.position(0), 5, 'expecting 0 on an empty partition succeeds');
      await rejectsStale(s.commit(changeset({ position: 8, expectPosition: 4, profiles: [profile('b')] })), 'expecting 4 when the partition is at 5 fails');
      await rejectsStale(s.commit(changeset({ position: 8, expectPosition: 0, profiles: [profile('b')] })), 'expecting 0 when the partition is at 5 fails');
      assert.equal(await s.position(0), 5, 'the position did not move');
      assert.equal(await s.profileCount(), 1, 'the stale commit wrote nothing');
      await s.commit(changeset({ position: 8, expectPosition: 5, profiles: [profile('b')] }));
      assert.equal(await s.position(0), 8, 'the right expectation commits');
      await rejectsStale(s.commit(changeset({ partition: 2, position: 3, expectPosition: 1 })), 'expecting a position on an untouched partition fails');
      await s.commit(changeset({ position: 9 }));
      assert.equal(await s.position(0), 9, 'a commit without expectation is unguarded');
    });

    withStore('stale writer: of two writers expecting the same position, exactly one wins', async (s) => {
      for (const start of [0, 10]) {
        if (start > 0) await s.commit(changeset({ position: start }));
        const results = await Promise.allSettled([
          s.commit(changeset({ position: start + 1, expectPosition: start, profiles: [profile(`x${start}`)] })),
          s.commit(changeset({ position: start + 2, expectPosition: start, profiles: [profile(`y${start}`)] })),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled').length;
        assert.equal(won, 1, `exactly one writer commits from position ${start}`);
        const lost = results.find((r) => r.status === 'rejected');
        assert.ok(lost && isPortraitError(lost.reason) && lost.reason.code === 'PORTRAIT_STALE_WRITER', 'the other fails as a stale writer');
        const docs = await s.profiles([{ workspace: 'w', id: `x${start}` }, { workspace: 'w', id: `y${start}` }]);
        assert.equal(docs.size, 1, 'only the winner wrote its profile');
      }
    });
  });
}
