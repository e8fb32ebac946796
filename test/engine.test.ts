import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { openMemory, T0 } from './support/open.ts';

const track = (over: Record<string, unknown>) => ({ type: 'track', event: 'Order Completed', properties: { price: 10, category: 'books' }, timestamp: T0, ...over });

describe('engine: identity resolution', () => {
  it('identify merges anonymous browsing into the user profile, recording the merge', async () => {
    const { p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
    await p.ingest([
      track({ anonymousId: 'a1', messageId: 'm1' }),
      track({ userId: 'u1', messageId: 'm2' }),
      { type: 'identify', userId: 'u1', anonymousId: 'a1', traits: { city: 'Paris', email: 'Ann@Example.com' }, timestamp: T0 + 1, messageId: 'm3' },
    ]);
    await p.drain();
    const byAnon = await p.profile('anonymous_id', 'a1');
    const byUser = await p.profile('user_id', 'u1');
    const byEmail = await p.profile('email', ' ann@example.COM ');
    assert.ok(byAnon && byUser && byEmail, 'byAnon && byUser && byEmail');
    assert.equal(byAnon.id, byUser.id);
    assert.equal(byEmail.id, byUser.id);
    assert.equal(byUser.traits.orders, 2);
    assert.equal(byUser.attributes.city, 'Paris');
    assert.deepEqual(byUser.identities.userIds, ['u1']);
    assert.deepEqual(byUser.identities.anonymousIds, ['a1']);
    const merges = await p.merges('user_id', 'u1');
    assert.equal(merges.length, 1);
    assert.equal(merges[0]!.messageId, 'm3');
    await p.close();
  });

  it('refuses to merge two user ids through a shared anonymous id, and records why', async () => {
    const { p } = await openMemory();
    await p.ingest([
      { type: 'identify', userId: 'u1', anonymousId: 'shared', messageId: 'm1', timestamp: T0 },
      { type: 'identify', userId: 'u2', anonymousId: 'shared', messageId: 'm2', timestamp: T0 + 1 },
    ]);
    await p.drain();
    const a = await p.profile('user_id', 'u1');
    const b = await p.profile('user_id', 'u2');
    assert.ok(a && b, 'a && b');
    assert.notEqual(a.id, b.id);
    const conflicts = await p.identityConflicts();
    assert.equal(conflicts.length, 1);
    assert.equal(conflicts[0]!.reason, 'different_user_ids');
    await p.close();
  });

  it('alias links a previous user id explicitly', async () => {
    const { p } = await openMemory();
    await p.ingest([
      { type: 'identify', userId: 'old', messageId: 'm1', timestamp: T0, traits: { plan: 'free' } },
      { type: 'identify', userId: 'new', messageId: 'm2', timestamp: T0 + 1, traits: { plan: 'pro' } },
      { type: 'alias', userId: 'new', previousId: 'old', messageId: 'm3', timestamp: T0 + 2 },
    ]);
    await p.drain();
    const a = await p.profile('user_id', 'old');
    const b = await p.profile('user_id', 'new');
    assert.equal(a?.id, b?.id);
    assert.equal(b?.attributes.plan, 'pro');
    await p.close();
  });

  it('caps anonymous ids per profile', async () => {
    const { p } = await openMemory({ identity: { maxAnonymousIds: 2, hashKey: '00'.repeat(32) } });
    await p.ingest([1, 2, 3].map((i) => ({ type: 'identify', userId: 'u', anonymousId: `a${i}`, messageId: `m${i}`, timestamp: T0 + i })));
    await p.drain();
    const prof = await p.profile('user_id', 'u');
    assert.deepEqual(prof?.identities.anonymousIds, ['a1', 'a2']);
    assert.equal((await p.identityConflicts())[0]?.reason, 'anonymous_cap');
    await p.close();
  });

  it('group links the user to a group profile holding the group traits', async () => {
    const { p } = await openMemory();
    await p.ingest([{ type: 'group', userId: 'u1', groupId: 'acme', traits: { plan: 'enterprise' }, messageId: 'g1', timestamp: T0 }]);
    await p.drain();
    assert.deepEqual((await p.profile('user_id', 'u1'))?.groups, ['acme']);
    const g = await p.profile('group_id', 'acme');
    assert.equal(g?.kind, 'group');
    assert.equal(g?.attributes.plan, 'enterprise');
    await p.close();
  });

  it('context.groupId and context.groups attribute any call to group profiles as activity, not as group traits', async () => {
    const { p } = await openMemory();
    await p.ingest([
      { type: 'group', userId: 'u1', groupId: 'acme', traits: { plan: 'enterprise' }, messageId: 'g1', timestamp: T0 },
      { type: 'track', userId: 'u1', event: 'Report Run', context: { groupId: 'acme', traits: { city: 'Oslo' } }, messageId: 't1', timestamp: T0 + 5_000 },
      { type: 'page', anonymousId: 'a9', name: 'Pricing', context: { groups: { company: 'acme', project: 7 } }, messageId: 'p1', timestamp: T0 - 5_000 },
      // A group call for one account attributed to another: its traits are the first account's alone.
      { type: 'group', userId: 'u2', groupId: 'beta', traits: { plan: 'free' }, context: { groupId: 'acme' }, messageId: 'g2', timestamp: T0 + 9_000 },
    ]);
    await p.drain();
    const acme = await p.profile('group_id', 'acme');
    assert.equal(acme?.eventCount, 4, 'its group call and the three calls attributed to it');
    assert.equal(acme?.firstSeen, new Date(T0 - 5_000).toISOString());
    assert.equal(acme?.lastSeen, new Date(T0 + 9_000).toISOString());
    assert.deepEqual(acme?.attributes, { plan: 'enterprise' }, "attribution adds no group traits, and a person's context.traits are not the group's");
    assert.equal((await p.profile('group_id', '7'))?.eventCount, 1, 'a number id counts as its text; an attributed call creates the group profile');
    assert.equal((await p.profile('group_id', 'beta'))?.attributes.plan, 'free');
    assert.deepEqual((await p.profile('user_id', 'u1'))?.groups, ['acme'], 'only group calls make a member');
    assert.deepEqual((await p.profile('anonymous_id', 'a9'))?.groups, []);
    const listed = await p.events('group_id', 'acme');
    assert.deepEqual(listed.events.map((e) => e.record.messageId), ['g2', 'p1', 't1', 'g1'], "a group profile's events, newest first");
    const past = await p.profile('group_id', 'acme', { at: T0 + 1_000 });
    assert.equal(past?.eventCount, 2, 'as of a past time: the events up to it');
    assert.deepEqual(past?.attributes, { plan: 'enterprise' });
    const incremental = await p.stateDump();
    await p.rebuild();
    assert.deepEqual(await p.stateDump(), incremental, 'a rebuild gives the same state');
    await p.close();
  });

  it('external ids from context.externalIds link profiles', async () => {
    const { p } = await openMemory();
    await p.ingest([
      { type: 'track', event: 'x', anonymousId: 'dev1', context: { externalIds: [{ id: 'c-9', type: 'crm_id', collection: 'users', encoding: 'none' }] }, messageId: 'e1', timestamp: T0 },
    ]);
    await p.drain();
    assert.equal((await p.profile('external:crm_id', 'c-9'))?.id, (await p.profile('anonymous_id', 'dev1'))?.id);
    await p.close();
  });
});

describe('engine: attributes', () => {
  it('last write wins by event time: a late, older value never overwrites a newer one, and the conflict is reported', async () => {
    const { p } = await openMemory();
    await p.ingest([
      { type: 'identify', userId: 'u', traits: { city: 'Berlin', age: 30 }, timestamp: T0 + 1000, messageId: 'new' },
      { type: 'identify', userId: 'u', traits: { city: 'Paris' }, timestamp: T0, messageId: 'old' },
    ]);
    await p.drain();
    const prof = await p.profile('user_id', 'u');
    assert.equal(prof?.attributes.city, 'Berlin');
    assert.equal(prof?.attributes.age, 30);
    const conflicts = await p.attributeConflicts('user_id', 'u');
    assert.deepEqual(conflicts.map((c) => [c.attribute, c.reason, c.kept, c.rejected]), [['city', 'stale', 'Berlin', 'Paris']]);
    await p.close();
  });

  it('set-once attributes keep the earliest value; declared types are coerced or rejected', async () => {
    const { p } = await openMemory({ attributes: { setOnce: ['signup_source'], types: { age: 'number' } } });
    await p.ingest([
      { type: 'identify', userId: 'u', traits: { signup_source: 'ads', age: '41' }, timestamp: T0 + 10, messageId: 'a' },
      { type: 'identify', userId: 'u', traits: { signup_source: 'friend', age: 'old' }, timestamp: T0 + 20, messageId: 'b' },
    ]);
    await p.drain();
    const prof = await p.profile('user_id', 'u');
    assert.equal(prof?.attributes.signup_source, 'ads');
    assert.equal(prof?.attributes.age, 41);
    const reasons = (await p.attributeConflicts('user_id', 'u')).map((c) => `${c.attribute}:${c.reason}`).sort();
    assert.deepEqual(reasons, ['age:type', 'signup_source:set_once']);
    await p.close();
  });

  it('records the history of attribute and trait changes with the causing event', async () => {
    const { p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
    await p.ingest([
      { type: 'identify', userId: 'u', traits: { city: 'Lima' }, timestamp: T0, messageId: 'i1' },
      track({ userId: 'u', messageId: 't1', timestamp: T0 + 5 }),
      { type: 'identify', userId: 'u', traits: { city: 'Lagos' }, timestamp: T0 + 9, messageId: 'i2' },
    ]);
    await p.drain();
    const h = await p.history('user_id', 'u');
    assert.deepEqual(
      h.map((x) => [x.messageId, x.changes]),
      [
        ['i2', { 'attr.city': ['Lima', 'Lagos'] }],
        ['t1', { 'trait.orders': [0, 1] }],
        ['i1', { 'attr.city': [undefined, 'Lima'] }],
      ].map(([id, c]) => [id, JSON.parse(JSON.stringify(c))]),
    );
    await p.close();
  });
});

describe('engine: the history of map-valued traits', () => {
  it('records decayed scores, a top list and rfm per changed key, on events and merges, and a rebuild records the same', async () => {
    const { p } = await openMemory({
      traits: [
        { name: 'interest', kind: 'decayed', key: 'properties.category', halfLife: '7d', filter: { event: 'Order Completed' } },
        { name: 'top_cats', kind: 'top', key: 'properties.category', k: 1, filter: { event: 'Order Completed' } },
        { name: 'rfm', kind: 'rfm', value: 'properties.price', filter: { event: 'Order Completed' } },
      ],
    });
    await p.ingest([
      track({ userId: 'u', messageId: 't1', properties: { price: 10, category: 'books' } }),
      track({ userId: 'u', messageId: 't2', properties: { price: 10, category: 'toys' } }),
      track({ anonymousId: 'a', messageId: 't3', properties: { price: 5, category: 'toys' } }),
      { type: 'alias', userId: 'u', previousId: 'a', timestamp: T0, messageId: 'al' },
    ]);
    await p.drain();
    const h = await p.history('user_id', 'u');
    const byId = new Map(h.map((x) => [x.messageId, x.changes]));
    assert.deepEqual(byId.get('t1'), {
      'trait.interest.books': [null, 1],
      'trait.top_cats.books': [null, 1],
      'trait.rfm.recencyDays': [null, 0],
      'trait.rfm.frequency': [0, 1],
      'trait.rfm.monetary': [0, 10],
      'trait.rfm.lastSeen': [null, new Date(T0).toISOString()],
    });
    assert.deepEqual(byId.get('t2'), {
      'trait.interest.toys': [null, 1],
      'trait.rfm.frequency': [1, 2],
      'trait.rfm.monetary': [10, 20],
    }, 'toys (count 1) ranks after books (count 1, earlier key) in a top 1: no change of the list');
    assert.deepEqual(byId.get('al'), {
      'trait.interest.toys': [1, 2],
      'trait.top_cats.books': [1, null],
      'trait.top_cats.toys': [null, 2],
      'trait.rfm.frequency': [2, 3],
      'trait.rfm.monetary': [20, 25],
    }, 'the merge: toys overtakes books');
    const before = (await p.stateDump()).filter((l) => l.startsWith('trait_history'));
    await p.rebuild();
    assert.deepEqual((await p.stateDump()).filter((l) => l.startsWith('trait_history')), before);
    await p.close();
  });
});

describe('engine: "only if not set" attributes (context.setOnce, PostHog $set_once)', () => {
  it('an ordinary write wins over them, the earliest of them wins otherwise, in any arrival order', async () => {
    const once = (id: string, t: number, src: string) => ({ type: 'identify', userId: 'u1', messageId: id, timestamp: T0 + t, traits: { src }, context: { setOnce: ['src'] } });
    const plain = { type: 'identify', userId: 'u1', messageId: 'm-plain', timestamp: T0 - 100, traits: { src: 'manual' } };
    const onlyOnce = [once('m-late', 10, 'ad'), once('m-early', 0, 'organic')];
    const orders = [[0, 1], [1, 0]];
    for (const order of orders) {
      const { p } = await openMemory();
      await p.ingest(order.map((i) => onlyOnce[i]!));
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.attributes.src, 'organic', `set-once writes only: the earliest wins (order ${order})`);
      await p.ingest([plain]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.attributes.src, 'manual', `an ordinary write wins, even an older one (order ${order})`);
      await p.ingest([once('m-later-still', 50, 'referral')]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.attributes.src, 'manual', 'a later set-once write does not replace it');
      await p.close();
    }
  });
});

describe('engine: deduplication and quarantine', () => {
  it('acknowledges a duplicate messageId without effect', async () => {
    const { p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
    const first = await p.ingest([track({ userId: 'u', messageId: 'same' })]);
    const again = await p.ingest([track({ userId: 'u', messageId: 'same' }), track({ userId: 'u', messageId: 'same' })]);
    assert.equal(first.accepted, 1);
    assert.equal(again.duplicates, 2);
    await p.drain();
    assert.equal((await p.profile('user_id', 'u'))?.traits.orders, 1);
    await p.close();
  });

  it('quarantines invalid messages with the reason, keeps the valid ones, and re-submits a fixed one', async () => {
    const { p } = await openMemory();
    const r = await p.ingest([{ type: 'track', event: 'x', timestamp: T0 }, { type: 'track', userId: 'ok', event: 'y', timestamp: T0 }]);
    assert.equal(r.accepted, 1);
    assert.equal(r.quarantined, 1);
    const q = await p.quarantined();
    assert.equal(q.length, 1);
    assert.match(JSON.stringify(q[0]!.reason), /userId|anonymousId/);
    assert.equal(JSON.parse(q[0]!.raw).event, 'x');
    const out = await p.resubmit(q[0]!.id, { fixed: { type: 'track', event: 'x', userId: 'fixed', timestamp: T0 } });
    assert.equal(out.status, 'accepted');
    assert.equal((await p.quarantined()).length, 0);
    await p.drain();
    assert.ok(await p.profile('user_id', 'fixed'), 'await p.profile(\'user_id\', \'fixed\')');
    await assert.rejects(p.resubmit(q[0]!.id), /PORTRAIT_QUARANTINE_NOT_FOUND|does not exist/);
    await p.close();
  });

  it('an invalid message sent again with its messageId keeps its one quarantine row; without one, each is kept', async () => {
    const { p } = await openMemory();
    const bad = { type: 'track', event: 'x', timestamp: T0, messageId: 'retry-1' };
    const first = await p.ingest([bad]);
    const again = await p.ingest([bad, { ...bad }]);
    const id = (first.outcomes[0] as { quarantineId: number }).quarantineId;
    assert.deepEqual(again.outcomes.map((o) => [o.status, (o as { quarantineId?: number }).quarantineId]), [['quarantined', id], ['quarantined', id]], 'found again, twice in one batch too');
    assert.equal((await p.quarantined()).length, 1, 'one row');
    const changed = await p.ingest([{ ...bad, event: 'y' }]);
    assert.notEqual((changed.outcomes[0] as { quarantineId: number }).quarantineId, id, 'another text under the same messageId is another row');
    const anonymous = { type: 'track', event: 'z', timestamp: T0 };
    await p.ingest([anonymous, anonymous]);
    assert.equal((await p.quarantined()).length, 4, 'two equal messages without a messageId may be two events: both kept');
    assert.equal(p.stats().quarantined, 6, 'each is counted as quarantined');

    // Re-submitted unchanged and still invalid: its row stays open, the same.
    const still = await p.resubmit(id);
    assert.equal(still.status, 'quarantined');
    assert.equal((still as { quarantineId: number }).quarantineId, id);
    assert.ok((await p.quarantined()).some((q) => q.id === id), 'still open');
    // Fixed, it leaves the open list; the broken text sent again finds the re-submitted row and is not listed again.
    assert.equal((await p.resubmit(id, { fixed: { ...bad, userId: 'u' } })).status, 'accepted');
    const late = await p.ingest([bad]);
    assert.equal((late.outcomes[0] as { quarantineId: number }).quarantineId, id);
    assert.ok(!(await p.quarantined()).some((q) => q.id === id), 'not open again');
    await p.close();
  });
});

describe('engine: unmerge', () => {
  it('removing a link splits the profile and rebuilds both sides from their own events', async () => {
    const { p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
    await p.ingest([
      track({ anonymousId: 'a1', messageId: 'm1' }),
      track({ anonymousId: 'a1', messageId: 'm2' }),
      track({ userId: 'u1', messageId: 'm3' }),
      { type: 'identify', userId: 'u1', anonymousId: 'a1', timestamp: T0, messageId: 'm4' },
    ]);
    await p.drain();
    assert.equal((await p.profile('user_id', 'u1'))?.traits.orders, 3);
    await p.unmerge('user:u1', 'anon:a1');
    await p.drain();
    const u = await p.profile('user_id', 'u1');
    const a = await p.profile('anonymous_id', 'a1');
    assert.ok(u && a, 'u && a');
    assert.notEqual(u.id, a.id);
    assert.equal(u.traits.orders, 1);
    assert.equal(a.traits.orders, 2);
    // The removed link is not re-created by later events.
    await p.ingest([{ type: 'identify', userId: 'u1', anonymousId: 'a1', timestamp: T0 + 5, messageId: 'm5' }]);
    await p.drain();
    assert.notEqual((await p.profile('user_id', 'u1'))?.id, (await p.profile('anonymous_id', 'a1'))?.id);
    assert.ok((await p.identityConflicts()).some((c) => c.reason === 'unlinked'), '(await p.identityConflicts()).some((c) => c.reason === \'unlinked\')');
    await assert.rejects(p.unmerge('user:u1', 'anon:nope'), /PORTRAIT_IDENTITY_LINK_NOT_FOUND|no identity link/);
    await p.close();
  });
});

describe('engine: time', () => {
  it('returns the profile as of a past time from the events up to then', async () => {
    const { p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
    await p.ingest([
      { type: 'identify', userId: 'u', traits: { city: 'Lima' }, timestamp: T0, messageId: 'i1' },
      track({ userId: 'u', messageId: 't1', timestamp: T0 + 10 }),
      track({ userId: 'u', messageId: 't2', timestamp: T0 + 20 }),
      { type: 'identify', userId: 'u', traits: { city: 'Lagos' }, timestamp: T0 + 30, messageId: 'i2' },
    ]);
    await p.drain();
    const past = await p.profile('user_id', 'u', { at: T0 + 15 });
    assert.equal(past?.traits.orders, 1);
    assert.equal(past?.attributes.city, 'Lima');
    const now = await p.profile('user_id', 'u');
    assert.equal(now?.traits.orders, 2);
    assert.equal(now?.attributes.city, 'Lagos');
    await p.close();
  });

  it('a new trait version backfills from the log and reads as backfilling until done', async () => {
    const { p } = await openMemory({ engine: { backfillChunk: 100 } });
    const msgs = Array.from({ length: 1000 }, (_, i) => track({ userId: `u${i % 10}`, messageId: `m${i}`, timestamp: T0 + i }));
    await p.ingest(msgs);
    await p.drain();
    await p.setTraits([{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }]);
    const during = await p.profile('user_id', 'u1');
    assert.deepEqual(Object.keys(during?.traits ?? {}), ['orders']);
    assert.equal((during?.traits.orders as { status?: string }).status, 'backfilling');
    await p.ingest([track({ userId: 'u1', messageId: 'late', timestamp: T0 })]);
    await p.drain();
    assert.equal((await p.profile('user_id', 'u1'))?.traits.orders, 101);
    assert.equal((await p.traitDefinitions())[0]?.status, 'live');
    await p.close();
  });
});
