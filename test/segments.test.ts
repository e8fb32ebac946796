import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { join } from 'node:path';
import { Portrait } from '../src/index.ts';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.ts';
import { openMemory, T0, tempDir } from './support/open.ts';

const DAY = 86_400_000;
const HASH = { hashKey: '00'.repeat(32) };
const order = (userId: string, t: number, i: number) => ({ type: 'track', userId, event: 'Order Completed', messageId: `o-${userId}-${i}`, timestamp: t, properties: { price: 10 } });
const seen = (userId: string, t: number, i: number) => ({ type: 'page', userId, name: 'Home', messageId: `p-${userId}-${i}`, timestamp: t });

const CONFIG = {
  traits: [{ name: 'orders_30d', kind: 'window_count', window: '30d', bucket: 'day', filter: { event: 'Order Completed' } }],
  segments: [
    { name: 'active', condition: 'last_seen within 7 days' },
    { name: 'buyer', condition: 'traits.orders_30d >= 1' },
    { name: 'active_buyer', condition: 'in_segment("active") and in_segment("buyer")' },
  ],
  tags: [{ name: 'value/high', condition: 'traits.orders_30d >= 2' }, { name: 'interest/sports' }, { name: 'interest/music' }],
} as const;

async function members(p: Portrait, segment: string): Promise<string[]> {
  return (await p.segments.members(segment)).members.map((m) => m.profileId);
}

async function profileId(p: Portrait, userId: string): Promise<string> {
  return (await p.profile('user_id', userId))!.id;
}

describe('segments over the engine', () => {
  it('a user leaves "last_seen within 7 days" exactly when 7 days pass, with no new event', async () => {
    const { p, clock } = await openMemory({ ...CONFIG, traits: [...CONFIG.traits], segments: [...CONFIG.segments], tags: [...CONFIG.tags] });
    try {
      await p.ingest([seen('u1', T0, 1)]);
      await p.drain();
      const id = await profileId(p, 'u1');
      assert.deepEqual(await members(p, 'active'), [id], 'active after the event');
      clock.advance(7 * DAY - 1);
      await p.drain();
      assert.deepEqual(await members(p, 'active'), [id], 'still active one millisecond before');
      clock.advance(1);
      await p.drain();
      assert.deepEqual(await members(p, 'active'), [], 'left exactly at 7 days');
      const out = (await p.segments.outbox()).filter((o) => (o.payload as { segment: string }).segment === 'active');
      assert.deepEqual(out.map((o) => [o.kind, o.createdAt, (o.payload as { reason: string }).reason]), [['segment.entered', T0, 'event'], ['segment.exited', T0 + 7 * DAY, 'time']], 'entered by the event, exited by time');
      const history = await p.segments.history('user_id', 'u1');
      assert.deepEqual(history.map((h) => `${h.segment} ${h.change}`), ['active exited', 'active entered'], 'membership history, newest first');
      const sizes = await p.segments.sizes('active');
      assert.deepEqual(sizes.map((s) => s.size), [0, 1], 'size history');
    } finally {
      await p.close();
    }
  });

  it('keeps the size history at one point per segment per interval, holding the last size in it, erasures included', async () => {
    const { p, clock } = await openMemory({ segments: [{ name: 'seen', condition: 'event_count >= 1' }], engine: { sizeHistorySeconds: 60 } });
    const history = async () => (await p.segments.sizes('seen')).map((z) => [z.at, z.size]);
    const iso = (t: number) => new Date(t).toISOString();
    try {
      for (const [i, dt] of [[1, 0], [2, 20_000], [3, 30_000]] as const) {
        clock.advance(dt);
        await p.ingest([seen(`u${i}`, clock.now(), i)]);
        await p.drain();
      }
      assert.deepEqual(await history(), [[iso(T0), 3]], 'three commits within one minute: one point, with the size of the last');
      clock.advance(20_000);
      await p.ingest([seen('u4', clock.now(), 4)]);
      await p.drain();
      assert.deepEqual(await history(), [[iso(T0 + 60_000), 4], [iso(T0), 3]], 'the next minute starts a point of its own');
      await p.privacy.waitFor((await p.privacy.erase('user_id', 'u4')).id);
      assert.deepEqual(await history(), [[iso(T0 + 60_000), 3], [iso(T0), 3]], "an erasure in the same minute updates that minute's point");
      clock.advance(5 * 60_000);
      await p.privacy.waitFor((await p.privacy.erase('user_id', 'u3')).id);
      assert.deepEqual(await history(), [[iso(T0 + 6 * 60_000), 2], [iso(T0 + 60_000), 3], [iso(T0), 3]], 'a later erasure: a point at the start of its own minute');
    } finally {
      await p.close();
    }
  });

  it('profile search filters and sorts by segment membership', async () => {
    const { p, clock } = await openMemory({ traits: [...CONFIG.traits], segments: [{ name: 'buyer', condition: 'traits.orders_30d >= 1' }] });
    try {
      await p.ingest([order('u1', T0, 1), order('u2', T0, 2), seen('u3', T0, 3)]);
      await p.drain();
      const ids = { u1: await profileId(p, 'u1'), u2: await profileId(p, 'u2'), u3: await profileId(p, 'u3') };
      const buyers = await p.searchProfiles({ where: [{ field: 'segments.buyer', op: 'eq', value: true }] });
      assert.deepEqual(buyers.items.map((v) => v.id).sort(), [ids.u1, ids.u2].sort(), 'members only');
      assert.equal(buyers.total, 2, 'total counts members');
      const others = await p.searchProfiles({ where: [{ field: 'segments.buyer', op: 'eq', value: false }] });
      assert.deepEqual(others.items.map((v) => v.id), [ids.u3], 'non-members only');
      const sorted = await p.searchProfiles({ sort: { field: 'segments.buyer', order: 'desc' } });
      assert.equal(sorted.items[sorted.items.length - 1]!.id, ids.u3, 'sorting puts non-members last when descending');
      clock.advance(40 * DAY);
      await p.drain();
      assert.equal((await p.searchProfiles({ where: [{ field: 'segments.buyer', op: 'eq', value: true }] })).total, 0, 'membership follows time');
      await assert.rejects(p.searchProfiles({ where: [{ field: 'segments.nope', op: 'eq', value: true }] }), /no segment is named "nope" \(defined: buyer\)/, 'unknown segment');
    } finally {
      await p.close();
    }
  });

  it('a window-count segment ends exactly when the last order leaves the window', async () => {
    const { p, clock } = await openMemory({ traits: [...CONFIG.traits], segments: [{ name: 'buyer', condition: 'traits.orders_30d >= 1' }] });
    try {
      await p.ingest([order('u1', T0 + 5 * 3_600_000, 1)]);
      await p.drain();
      const id = await profileId(p, 'u1');
      // Day buckets: the order's day (T0) leaves the 30-day window at T0 + 1 day + 30 days.
      const leave = T0 + DAY + 30 * DAY;
      const explained = await p.segments.explain('segment', 'buyer', 'user_id', 'u1');
      assert.equal(explained.explanation.changesAt, new Date(leave).toISOString(), 'explain says when it changes');
      clock.set(leave - 1);
      await p.drain();
      assert.deepEqual(await members(p, 'buyer'), [id], 'still a buyer just before');
      clock.set(leave);
      await p.drain();
      assert.deepEqual(await members(p, 'buyer'), [], 'not a buyer at the instant the bucket leaves');
    } finally {
      await p.close();
    }
  });

  it('a decayed-interest segment ends at the exact instant the score falls below its threshold', async () => {
    const interest = { name: 'interest', kind: 'decayed', key: 'properties.cat', halfLife: '1d', filter: { event: 'Viewed' } };
    const { p, clock } = await openMemory({ traits: [interest], segments: [{ name: 'fan', condition: 'traits.interest.sports >= 1' }] });
    try {
      const views = [1, 2, 3, 4].map((i) => ({ type: 'track', userId: 'u1', event: 'Viewed', messageId: `v-${i}`, timestamp: T0, properties: { cat: 'sports' } }));
      await p.ingest(views);
      await p.drain();
      const id = await profileId(p, 'u1');
      assert.deepEqual(await members(p, 'fan'), [id], 'a fan after four views');
      const explained = await p.segments.explain('segment', 'fan', 'user_id', 'u1');
      const leave = Date.parse(explained.explanation.changesAt ?? '');
      // 4 halves to 1 after two days; the rounded score first reads below 1 shortly after.
      assert.ok(leave > T0 + 2 * DAY && leave < T0 + 2 * DAY + 3_600_000, `explain names the crossing instant, got ${explained.explanation.changesAt}`);
      clock.set(leave - 1);
      await p.drain();
      assert.deepEqual(await members(p, 'fan'), [id], 'still a fan a millisecond before');
      clock.set(leave);
      await p.drain();
      assert.deepEqual(await members(p, 'fan'), [], 'not a fan at the crossing instant, with no new event');
      const out = (await p.segments.outbox()).filter((o) => o.kind === 'segment.exited');
      assert.deepEqual(out.map((o) => [o.createdAt, (o.payload as { reason: string }).reason]), [[leave, 'time']], 'exited by time at that instant');
    } finally {
      await p.close();
    }
  });

  it('the schedule survives close and reopen (file-backed, engine thread following the injected clock)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const config = { dataDir: dir, durability: 'normal' as const, identity: HASH, segments: [{ name: 'active', condition: 'last_seen within 7 days' }] };
      const clock = new ManualClock(T0);
      let p = await Portrait.open(config, { clock });
      await p.ingest([seen('u1', T0, 1)]);
      await p.drain();
      const id = await profileId(p, 'u1');
      assert.deepEqual(await members(p, 'active'), [id], 'active before closing');
      await p.close();
      clock.advance(7 * DAY);
      p = await Portrait.open(config, { clock });
      await p.drain();
      assert.deepEqual(await members(p, 'active'), [], 'left after reopening, at the scheduled instant');
      const last = (await p.segments.outbox()).at(-1)!;
      assert.equal(last.kind, 'segment.exited', 'the exit is in the outbox');
      await p.close();
    } finally {
      cleanup();
    }
  });

  it('a segment reading a trait that backfills holds its memberships until the backfill ends, then re-evaluates everyone', async () => {
    const view = (userId: string, t: number, i: number) => ({ type: 'track', userId, event: 'Product Viewed', messageId: `v-${userId}-${i}`, timestamp: t });
    const { p } = await openMemory({ engine: { backfillChunk: 100 } });
    try {
      await p.setTraits([{ name: 'n', kind: 'count', filter: { event: 'Order Completed' } }]);
      await p.segments.put('segment', { name: 'few', condition: 'traits.n >= 1 and traits.n <= 2' });
      // Filler first, so the backfill of the new version reaches u3 and u4 last.
      const filler = Array.from({ length: 20_000 }, (_, i) => seen(`f${i % 500}`, T0 + i, i));
      const late = [order('u3', T0 + 30_000, 1), ...[1, 2, 3, 4, 5].flatMap((i) => [view('u3', T0 + 30_000 + i, i), view('u4', T0 + 30_000 + i, i)])];
      for (let i = 0; i < filler.length; i += 5000) await p.ingest(filler.slice(i, i + 5000));
      await p.ingest(late);
      await p.drain();
      const u3 = await profileId(p, 'u3');
      const u4 = await profileId(p, 'u4');
      assert.deepEqual(await members(p, 'few'), [u3], 'u3 (one order) is in; u4 and the others (no order) are not');
      // The trait now counts views: u3 has 5, u4 has 5. Neither belongs in "few" once the backfill is done.
      await p.setTraits([{ name: 'n', kind: 'count', filter: { event: 'Product Viewed' } }]);
      await p.ingest([view('u4', T0 + 40_000, 6)]);
      const during = await p.segments.get('segment', 'few');
      assert.deepEqual(during.waitingFor, ['n'], 'the segment says what it waits for while the backfill runs');
      await p.drain();
      assert.deepEqual(await members(p, 'few'), [], 'after the backfill nobody has 1 or 2 views');
      const after = await p.segments.get('segment', 'few');
      assert.deepEqual([after.status, after.waitingFor], ['live', []], 'live again, waiting for nothing');
      // With partial values, u4's new view would have read n = 1 and entered "few", to exit again at the end of the backfill.
      assert.deepEqual(await p.segments.history('user_id', 'u4'), [], 'u4 never entered on a partial count');
      const u3History = (await p.segments.history('user_id', 'u3')).map((h) => `${h.change} ${h.reason}`);
      assert.deepEqual(u3History, ['exited trait-backfill', 'entered event'], 'u3 left once, when the backfill reached its views');
    } finally {
      await p.close();
    }
  });

  it('a segment reading a trait the configuration dropped holds its memberships, says so, and is evaluated again once the trait is back', async () => {
    const { dir, cleanup } = tempDir('portrait-dropped-trait-');
    const traits = [
      { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } },
      { name: 'views', kind: 'count', filter: { event: 'Product Viewed' } },
    ];
    const view = (userId: string, i: number) => ({ type: 'track', userId, event: 'Product Viewed', messageId: `v-${userId}-${i}`, timestamp: T0 + i });
    const open = (t: typeof traits) => Portrait.open({ dataDir: dir, durability: 'normal', traits: t, identity: HASH });
    try {
      let p = await open(traits);
      await p.segments.put('segment', { name: 'viewers', condition: 'traits.views >= 2' });
      await p.ingest([1, 2, 3].map((i) => view('u1', i)));
      await p.drain();
      const u1 = await profileId(p, 'u1');
      assert.deepEqual(await members(p, 'viewers'), [u1], 'u1 viewed three times');
      await p.close();

      p = await open([traits[0]!]);
      const s = await p.segments.get('segment', 'viewers');
      assert.deepEqual(s.missingTraits, ['views'], 'the segment names the trait it lacks');
      await p.ingest([...[4, 5].map((i) => view('u1', i)), ...[1, 2, 3, 4, 5].map((i) => view('u2', i))]);
      await p.drain();
      assert.deepEqual(await members(p, 'viewers'), [u1], 'memberships held: nobody leaves or enters on a missing value');
      assert.deepEqual((await p.segments.history('user_id', 'u1')).map((h) => h.change), ['entered'], 'u1 never exited');
      await p.close();

      p = await open(traits);
      await p.drain();
      const u2 = await profileId(p, 'u2');
      assert.deepEqual((await members(p, 'viewers')).sort(), [u1, u2].sort(), 'with the trait back (backfilled), u2 enters');
      const back = await p.segments.get('segment', 'viewers');
      assert.deepEqual([back.status, back.missingTraits, back.waitingFor], ['live', [], []], 'live and complete again');
      await p.close();
    } finally {
      cleanup();
    }
  });

  it('a new definition backfills over existing profiles, then stays live', async () => {
    const { p } = await openMemory({ traits: [...CONFIG.traits] });
    try {
      await p.ingest([order('u1', T0, 1), order('u1', T0, 2), order('u2', T0, 3), seen('u3', T0, 4)]);
      await p.drain();
      const r = await p.segments.put('segment', { name: 'buyer', condition: 'traits.orders_30d >= 1' });
      assert.equal(r.created, true, 'created');
      await p.drain();
      const s = await p.segments.get('segment', 'buyer');
      assert.equal(s.status, 'live', 'live after the backfill');
      assert.equal(s.progress, 1, 'progress complete');
      assert.equal(s.size, 2, 'two buyers');
      await p.ingest([order('u3', T0, 5)]);
      await p.drain();
      assert.equal((await p.segments.get('segment', 'buyer')).size, 3, 'the third joins live');
      const changed = await p.segments.put('segment', { name: 'buyer', condition: 'traits.orders_30d >= 2' });
      assert.equal(changed.created, false, 'replaced');
      await p.drain();
      assert.deepEqual(await members(p, 'buyer'), [await profileId(p, 'u1')], 'the changed definition re-evaluates everyone');
      const reasons = (await p.segments.history('user_id', 'u2')).map((h) => `${h.change} ${h.reason}`);
      assert.deepEqual(reasons, ['exited definition', 'entered definition'], 'entries and exits by the backfill carry that reason');
    } finally {
      await p.close();
    }
  });

  it('rejects invalid definitions over the library API, naming the problem', async () => {
    const { p } = await openMemory({ traits: [...CONFIG.traits], segments: [{ name: 'buyer', condition: 'traits.orders_30d >= 1' }] });
    try {
      await assert.rejects(p.segments.put('segment', { name: 'x', condition: 'traits.nope > 1' }), /unknown trait "nope"/, 'unknown trait');
      await assert.rejects(p.segments.put('segment', { name: 'x', condition: 'traits.orders_30d >=' }), (e: Error & { code?: string }) => e.code === 'PORTRAIT_SEGMENT_CONDITION_SYNTAX', 'syntax');
      await assert.rejects(p.segments.put('segment', { name: 'buyer', condition: 'in_segment("x")' }), /unknown segment/, 'unknown segment');
      await assert.rejects(p.segments.remove('segment', 'ghost'), (e: Error & { code?: string }) => e.code === 'PORTRAIT_SEGMENT_UNKNOWN', 'removing an unknown segment');
      await p.segments.put('segment', { name: 'x', condition: 'in_segment("buyer")' });
      await assert.rejects(p.segments.remove('segment', 'buyer'), /unknown segment "buyer"/, 'a segment another names cannot be removed');
      await assert.rejects(p.segments.put('segment', { name: 'buyer', condition: 'in_segment("x")' }), /cycle/, 'a cycle');
      await p.putTrait({ name: 'spent', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' });
      await p.segments.put('segment', { name: 'big', condition: 'traits.spent > 100' });
      await assert.rejects(p.deleteTrait('spent'), /unknown trait "spent"/, 'removing a trait a segment reads');
      await assert.rejects(p.setTraits([]), /unknown trait "spent"/, 'also when replacing the whole API-made set');
      assert.equal((await p.segments.validate('segment', { name: 'y', condition: 'event_count > 3' })).name, 'y', 'validate without saving');
      assert.equal((await p.segments.list('segment')).some((s) => s.name === 'y'), false, 'not saved');
    } finally {
      await p.close();
    }
  });

  it('tags: rule-driven and manual, listed as a tree with counts', async () => {
    const { p } = await openMemory({ traits: [...CONFIG.traits], tags: [...CONFIG.tags] });
    try {
      await p.ingest([order('u1', T0, 1), order('u1', T0, 2), order('u2', T0, 3)]);
      await p.drain();
      await p.segments.tag('interest/sports', 'user_id', 'u1', true);
      await p.segments.tag('interest/music', 'user_id', 'u1', true);
      await p.segments.tag('interest/music', 'user_id', 'u2', true);
      await assert.rejects(p.segments.tag('value/high', 'user_id', 'u2', true), (e: Error & { code?: string }) => e.code === 'PORTRAIT_TAG_NOT_MANUAL', 'rule tags are not set by hand');
      await p.drain();
      const tree = await p.segments.tagTree();
      const interest = tree.find((n) => n.path === 'interest')!;
      assert.deepEqual(interest.children.map((c) => [c.path, c.count]), [['interest/music', 2], ['interest/sports', 1]], 'children with counts');
      assert.equal(interest.total, 2, 'the subtree counts each profile once');
      assert.equal(tree.find((n) => n.path === 'value')!.children[0]!.count, 1, 'rule tag value/high has u1');
      const unset = await p.segments.tag('interest/music', 'user_id', 'u2', false);
      assert.equal(unset.changed, true, 'unset');
      await p.drain();
      const own = await p.segments.ofProfile({ workspace: 'default', id: await profileId(p, 'u1') });
      assert.deepEqual(own.tags.map((t) => `${t.tag} ${t.source}`), ['interest/music manual', 'interest/sports manual', 'value/high rule'], "a profile's tags");
    } finally {
      await p.close();
    }
  });

  it('a manual tag goes through the event log: membership, history, tag outbox rows and dependants in one commit; a rebuild repeats it', async () => {
    const tags = [...CONFIG.tags, { name: 'interest/sports/football' }];
    const segments = [...CONFIG.segments, { name: 'sporty', condition: 'has_tag("interest/sports") and in_segment("active")' }];
    const { p } = await openMemory({ traits: [...CONFIG.traits], segments, tags });
    try {
      await p.ingest([seen('u1', T0, 1), seen('u2', T0, 2)]);
      await p.drain();
      const id = await profileId(p, 'u1');
      const set = await p.segments.tag('interest/sports/football', 'user_id', 'u1', true);
      assert.equal(set.changed, true, 'a change of the folded state');
      assert.match(set.messageId, /^tag-/, 'the call returns the id of the message it appended');
      await p.drain();
      assert.equal((await p.events('user_id', 'u1')).events.some((e) => e.record.messageId === set.messageId), true, 'the decision is an event of the profile');
      assert.deepEqual(await members(p, 'sporty'), [id], 'a segment naming the parent tag follows the child');
      assert.equal((await p.segments.tag('interest/sports/football', 'user_id', 'u1', true)).changed, false, 'setting it again changes nothing');
      await p.drain();
      const unset = await p.segments.tag('interest/sports/football', 'user_id', 'u1', false);
      assert.equal(unset.changed, true, 'unset');
      await p.drain();
      assert.deepEqual(await members(p, 'sporty'), [], 'and leaves with it');
      const history = (await p.segments.history('user_id', 'u1')).filter((h) => h.segment !== 'active');
      const positions = new Map<string, number>();
      for (const h of history) positions.set(`${h.segment} ${h.change}`, h.position);
      assert.equal(positions.get('sporty entered'), positions.get('tag:interest/sports/football entered'), 'the dependant entered in the same commit as the tag');
      assert.equal(positions.get('sporty exited'), positions.get('tag:interest/sports/football exited'), 'and exited in the same commit');
      assert.deepEqual(history.filter((h) => h.segment.startsWith('tag:')).map((h) => `${h.change} ${h.reason}`), ['exited manual', 'entered manual'], 'history with the reason manual, newest first');
      const outbox = (await p.segments.outbox()).filter((o) => o.kind.startsWith('tag.'));
      assert.deepEqual(
        outbox.map((o) => [o.kind, o.profileId, (o.payload as { tag: string; source: string; reason: string }).tag, (o.payload as { source: string }).source, (o.payload as { reason: string }).reason]),
        [['tag.entered', id, 'interest/sports/football', 'manual', 'manual'], ['tag.exited', id, 'interest/sports/football', 'manual', 'manual']],
        'tag.entered and tag.exited in the outbox',
      );
      await p.segments.tag('interest/music', 'user_id', 'u2', true);
      await p.drain();
      const before = [await p.segments.tagMembers('interest/music'), await p.segments.ofProfile({ workspace: 'default', id: await profileId(p, 'u2') })];
      await p.rebuild();
      await p.drain();
      assert.deepEqual([await p.segments.tagMembers('interest/music'), await p.segments.ofProfile({ workspace: 'default', id: await profileId(p, 'u2') })], before, 'a rebuild reproduces manual tags exactly');
      assert.deepEqual(await members(p, 'sporty'), [], 'and what reads them');
      // An erasure removes the person's decisions with their events: a later rebuild does not bring the tag back.
      await p.privacy.waitFor((await p.privacy.erase('user_id', 'u2')).id);
      await p.rebuild();
      await p.drain();
      assert.deepEqual((await p.segments.tagMembers('interest/music')).members, [], 'erased, and not rebuilt');
    } finally {
      await p.close();
    }
  });

  it('manual tags an earlier version stored outside the log move into it at open: folded, in the history, repeated by a rebuild', async () => {
    const { dir, cleanup } = tempDir();
    const config = { dataDir: dir, identity: { hashKey: '00'.repeat(32) }, traits: [...CONFIG.traits], tags: [...CONFIG.tags] };
    const clock = new ManualClock(T0);
    try {
      let p = await Portrait.open(config, { clock });
      await p.ingest([
        { type: 'identify', userId: 'u1', traits: { city: 'Lima' }, timestamp: T0 - 5000, messageId: 'i1' },
        { type: 'group', userId: 'u1', groupId: 'g1', timestamp: T0 - 4000, messageId: 'g1' },
      ]);
      await p.drain();
      const u1 = await profileId(p, 'u1');
      const g1 = (await p.profile('group_id', 'g1'))!.id;
      await p.close();
      // What an earlier version wrote for a manual tag: a row in the store, no event in the log.
      const legacy = new SqliteStore({ file: join(dir, 'state.db') });
      await legacy.segments.setTag('default', 'interest/music', u1, T0 - 3000);
      await legacy.segments.setTag('default', 'interest/music', g1, T0 - 3000);
      await legacy.segments.setTag('default', 'value/high', u1, T0 - 3000);
      await legacy.close();

      p = await Portrait.open(config, { clock });
      await p.drain();
      assert.deepEqual((await p.segments.tagMembers('interest/music')).members.map((m) => m.profileId).sort(), [g1, u1].sort(), 'both still members');
      assert.equal((await p.events('user_id', 'u1')).events.filter((e) => e.record.type === 'identify').length, 2, "the person's decision is an event of the profile now");
      assert.deepEqual(
        (await p.segments.history('user_id', 'u1')).filter((h) => h.segment === 'tag:interest/music').map((h) => `${h.change} ${h.reason}`),
        ['entered manual'],
        'in the membership history',
      );
      const store = (p as unknown as { store: SqliteStore }).store;
      assert.deepEqual(await store.segments.storedManualTags(), [], 'every row left the table, the group profile\'s too');
      const groupDecision = (await p.events('group_id', 'g1')).events.filter((e) => e.record.messageId !== 'g1');
      assert.deepEqual(groupDecision.map((e) => [e.record.type, e.record.userId, e.record.timestamp]), [['group', undefined, T0 - 3000]], "the group's decision names no person and has the row's time");
      assert.deepEqual(
        (await p.segments.history('group_id', 'g1')).filter((h) => h.segment === 'tag:interest/music').map((h) => `${h.change} ${h.reason}`),
        ['entered manual'],
        "in the group's membership history",
      );
      assert.deepEqual((await p.segments.ofProfile({ workspace: 'default', id: u1 })).tags.map((t) => t.tag), ['interest/music'], 'the stale manual row of the rule tag is gone: the rule decides value/high');
      assert.deepEqual(await p.segments.moveStoredTags(), { moved: 0, kept: 0, dropped: 0 }, 'nothing left to move or drop');
      // A node opening at the same moment read the rows before this one removed them, and moves them too: the log drops the duplicates.
      await store.segments.setTag('default', 'interest/music', u1, T0 - 3000);
      await store.segments.setTag('default', 'interest/music', g1, T0 - 3000);
      assert.deepEqual(await p.segments.moveStoredTags(), { moved: 2, kept: 0, dropped: 0 }, 'moved again');
      await p.drain();
      const decisions = (await p.events('user_id', 'u1')).events.filter((e) => e.record.type === 'identify' && e.record.messageId !== 'i1');
      assert.equal(decisions.length, 1, 'still one decision event in the log');
      assert.equal(decisions[0]!.record.timestamp, T0 - 3000, "the decision's event time is the row's time");
      assert.equal((await p.events('group_id', 'g1')).events.length, 2, "still one decision among the group's events");
      assert.equal(p.stats().duplicates, 1, 'the second append of the person\'s decision was a duplicate (counted by ingest)');
      const before = await p.segments.tagMembers('interest/music');
      await p.rebuild();
      await p.drain();
      assert.deepEqual(await p.segments.tagMembers('interest/music'), before, 'a rebuild repeats the moved decision');
      await p.close();
    } finally {
      cleanup();
    }
  });

  it('a stored manual row of a tag that has since become a rule tag is dropped and counted at open; the rule decides', async () => {
    const { dir, cleanup } = tempDir();
    const config = { dataDir: dir, identity: { hashKey: '00'.repeat(32) }, traits: [...CONFIG.traits], tags: [...CONFIG.tags] };
    const clock = new ManualClock(T0);
    let p: Portrait | undefined;
    try {
      p = await Portrait.open({ ...config, tags: [{ name: 'value/high' }] }, { clock });
      await p.ingest([{ type: 'identify', userId: 'u1', timestamp: T0 - 5000, messageId: 'i1' }]);
      await p.drain();
      const u1 = await profileId(p, 'u1');
      await p.close();
      p = undefined;
      const legacy = new SqliteStore({ file: join(dir, 'state.db') });
      await legacy.segments.setTag('default', 'value/high', u1, T0 - 3000);
      await legacy.segments.setTag('default', 'interest/music', u1, T0 - 3000);
      await legacy.close();
      // value/high is a rule tag now; calling the move again on a fresh table shows the count.
      p = await Portrait.open(config, { clock });
      await p.drain();
      const store = (p as unknown as { store: SqliteStore }).store;
      assert.deepEqual(await store.segments.storedManualTags(), [], 'both rows left the table at open');
      await store.segments.setTag('default', 'value/high', u1, T0 - 3000);
      assert.deepEqual(await p.segments.moveStoredTags(), { moved: 0, kept: 0, dropped: 1 }, 'the rule tag row is dropped and counted');
      await p.drain();
      assert.deepEqual((await p.segments.ofProfile({ workspace: 'default', id: u1 })).tags.map((t) => `${t.tag} ${t.source}`), ['interest/music manual'], 'no value/high: the rule (orders >= 2) does not hold');
      assert.equal((await p.events('user_id', 'u1')).events.filter((e) => JSON.stringify(e.record).includes('value/high')).length, 0, 'no decision for the rule tag reached the log');
    } finally {
      await p?.close();
      cleanup();
    }
  });

  it('a tag dropped from the configuration while a parent tag test covers it: the definitions testing it are evaluated again, and only those', async () => {
    const { dir, cleanup } = tempDir();
    const segments = [
      { name: 'curious', condition: 'has_tag("interest")' },
      { name: 'curious_fan', condition: 'in_segment("curious") and event_count >= 1' },
      { name: 'sporty', condition: 'has_tag("interest/sports")' },
      { name: 'seen', condition: 'event_count >= 1' },
    ];
    const config = { dataDir: dir, identity: { hashKey: '00'.repeat(32) }, traits: [...CONFIG.traits], segments };
    const clock = new ManualClock(T0);
    let p: Portrait | undefined;
    try {
      p = await Portrait.open({ ...config, tags: [{ name: 'interest/music' }, { name: 'interest/sports' }] }, { clock });
      await p.ingest(['u1', 'u2'].map((u) => ({ type: 'identify' as const, userId: u, timestamp: T0 - 5000, messageId: `i-${u}` })));
      await p.drain();
      await p.segments.tag('interest/music', 'user_id', 'u1', true);
      await p.segments.tag('interest/sports', 'user_id', 'u2', true);
      await p.drain();
      const [u1, u2] = [await profileId(p, 'u1'), await profileId(p, 'u2')];
      assert.deepEqual((await members(p, 'curious')).sort(), [u1, u2].sort(), 'both curious before');
      assert.deepEqual((await members(p, 'curious_fan')).sort(), [u1, u2].sort(), 'and what names it');
      const updated = async (name: string) => (await p!.segments.get('segment', name)).updatedAt;
      const before = { sporty: await updated('sporty'), seen: await updated('seen'), curious: await p.segments.get('segment', 'curious') };
      await p.close();
      p = undefined;

      clock.advance(60_000);
      p = await Portrait.open({ ...config, tags: [{ name: 'interest/sports' }] }, { clock });
      await p.drain();
      assert.deepEqual(await members(p, 'curious'), [u2], 'the dropped tag no longer keeps u1 in the segment testing its parent');
      assert.deepEqual(await members(p, 'curious_fan'), [u2], 'nor in a segment naming that one');
      assert.deepEqual(
        (await p.segments.history('user_id', 'u1')).filter((h) => h.segment === 'curious').map((h) => h.change),
        ['exited', 'entered'],
        'the exit is in the history',
      );
      const curious = await p.segments.get('segment', 'curious');
      assert.deepEqual([curious.version, curious.status], [before.curious.version, 'live'], 'the same version, evaluated again');
      assert.deepEqual([await updated('sporty'), await updated('seen')], [before.sporty, before.seen], 'definitions not covering the dropped tag were not evaluated again');
    } finally {
      await p?.close();
      cleanup();
    }
  });

  it('manual tag decisions are ordered by event time, merge with identities, and an unusable decision is recorded, not folded', async () => {
    const { p } = await openMemory({ traits: [...CONFIG.traits], segments: [...CONFIG.segments], tags: [...CONFIG.tags] });
    const decide = (who: Record<string, string>, t: number, id: string, tags: unknown) => ({ type: 'identify', ...who, messageId: id, timestamp: t, context: { portraitTags: tags } });
    try {
      // A later unset arrives first: the earlier set, arriving late, does not override it.
      await p.ingest([decide({ userId: 'u1' }, T0 + 2, 'd2', { 'interest/music': false }), decide({ userId: 'u1' }, T0 + 1, 'd1', { 'interest/music': true })]);
      // An anonymous visitor tagged, then identified as u1: the merged profile keeps the later decision per tag.
      await p.ingest([decide({ anonymousId: 'a1' }, T0 + 3, 'd3', { 'interest/sports': true }), decide({ anonymousId: 'a1' }, T0 + 1, 'd4', { 'interest/music': true })]);
      await p.drain();
      await p.ingest([{ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'link', timestamp: T0 + 4 }]);
      await p.ingest([decide({ userId: 'u1' }, T0 + 5, 'd5', { 'Not A Tag': true, 'interest/music': 'yes' })]);
      await p.drain();
      const own = await p.segments.ofProfile({ workspace: 'default', id: await profileId(p, 'u1') });
      assert.deepEqual(own.tags.map((t) => `${t.tag} ${t.source}`), ['interest/sports manual'], 'music: the unset at T0+2 is later than both sets; sports came with the merge');
      const conflicts = (await p.attributeConflicts('user_id', 'u1')).filter((c) => c.reason === 'tag');
      assert.deepEqual(conflicts.map((c) => [c.attribute, c.rejected]).sort(), [['context.portraitTags.Not A Tag', true], ['context.portraitTags.interest/music', 'yes']], 'unusable decisions are recorded with their field');
      assert.equal(p.stats().quarantined, 0, 'the messages themselves are valid');
    } finally {
      await p.close();
    }
  });

  it('a manual tag defined later is evaluated over every profile, with what names it; one a tag test covers cannot be removed', async () => {
    const segments = [{ name: 'sporty', condition: 'has_tag("interest")' }];
    const { p } = await openMemory({ traits: [...CONFIG.traits], segments, tags: [{ name: 'interest/music' }] });
    try {
      // A decision on a tag not defined yet is folded into the profile, with no membership.
      await p.ingest([{ type: 'identify', userId: 'u1', messageId: 'd1', timestamp: T0, context: { portraitTags: { 'interest/sports': true } } }]);
      await p.drain();
      const id = await profileId(p, 'u1');
      assert.deepEqual(await members(p, 'sporty'), [], 'no defined tag held');
      await p.segments.put('tag', { name: 'interest/sports' });
      await p.drain();
      assert.equal((await p.segments.get('tag', 'interest/sports')).status, 'live', 'the new tag backfilled');
      assert.deepEqual((await p.segments.tagMembers('interest/sports')).members.map((m) => m.profileId), [id], 'the folded decision makes a member');
      assert.deepEqual(await members(p, 'sporty'), [id], 'and the segment naming its parent follows');
      await assert.rejects(p.segments.remove('tag', 'interest/sports'), (e: Error & { code?: string }) => e.code === 'PORTRAIT_SEGMENT_INVALID' && /segment "sporty" tests a tag covering "interest\/sports"/.test(e.message), 'a tag a tag test covers is not removed');
      await p.segments.put('segment', { name: 'sporty', condition: 'has_tag("interest/music")' });
      await p.segments.remove('tag', 'interest/sports');
      await p.drain();
      assert.deepEqual([await members(p, 'sporty'), (await p.segments.ofProfile({ workspace: 'default', id })).tags], [[], []], 'once nothing covers it, it goes with its memberships');
    } finally {
      await p.close();
    }
  });

  it('writes one profile.updated outbox row per changed profile per commit when enabled', async () => {
    const { p } = await openMemory({ outbox: { profileUpdated: true } });
    try {
      await p.ingest([seen('u1', T0, 1), seen('u1', T0 + 1, 2), seen('u2', T0, 3)]);
      await p.drain();
      const rows = (await p.segments.outbox()).filter((o) => o.kind === 'profile.updated');
      assert.equal(rows.length, 2, 'one per profile for the commit holding three events');
      assert.equal((rows.find((r) => r.profileId === rows[0]!.profileId)!.payload as { eventCount: number }).eventCount >= 1, true, 'payload carries the profile');
    } finally {
      await p.close();
    }
  });

  it('a merge ends the absorbed profile\'s memberships', async () => {
    const { p } = await openMemory({ segments: [{ name: 'seen', condition: 'event_count >= 1' }] });
    try {
      await p.ingest([{ type: 'page', anonymousId: 'a1', name: 'Home', timestamp: T0, messageId: 'x1' }, { type: 'page', userId: 'u1', name: 'Home', timestamp: T0, messageId: 'x2' }]);
      await p.drain();
      assert.equal((await members(p, 'seen')).length, 2, 'two profiles');
      await p.ingest([{ type: 'identify', userId: 'u1', anonymousId: 'a1', timestamp: T0 + 1, messageId: 'x3' }]);
      await p.drain();
      assert.deepEqual(await members(p, 'seen'), [await profileId(p, 'u1')], 'one profile after the merge');
      const exits = (await p.segments.outbox()).filter((o) => o.kind === 'segment.exited');
      assert.equal((exits[0]!.payload as { reason: string }).reason, 'merge', 'exit by merge');
    } finally {
      await p.close();
    }
  });

  it('a new profile enters a segment whose condition holds on inputs it does not have', async () => {
    const { p } = await openMemory({ segments: [{ name: 'no_city', condition: 'not exists attributes.city' }] });
    try {
      await p.ingest([seen('u1', T0, 1)]);
      await p.drain();
      assert.deepEqual(await members(p, 'no_city'), [await profileId(p, 'u1')], 'evaluated in full when created, though no input it reads changed');
      await p.ingest([{ type: 'identify', userId: 'u1', messageId: 'i1', timestamp: T0 + 1, traits: { city: 'Lima' } }, seen('u2', T0 + 2, 2)]);
      await p.drain();
      assert.deepEqual(await members(p, 'no_city'), [await profileId(p, 'u2')], 'u1 leaves when the input arrives; u2 enters when created');
    } finally {
      await p.close();
    }
  });
});
