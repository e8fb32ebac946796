import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Portrait } from '../src/index.ts';
import { resolveConfig } from '../src/config/index.ts';
import type { PortraitError } from '../src/core/errors.ts';
import { Portrait as PortraitClass } from '../src/index.ts';
import { errorOf } from './support/errors.ts';
import { openMemory, T0, tempDir } from './support/open.ts';

const DAY = 86_400_000;

const CONFIG = {
  traits: [
    { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } },
    { name: 'marketing_orders', kind: 'count', purpose: 'marketing', filter: { event: 'Order Completed' } },
    { name: 'marketing_spend', kind: 'sum', value: 'properties.price', purpose: 'marketing', filter: { event: 'Order Completed' } },
  ],
  segments: [
    { name: 'buyers', condition: 'traits.orders >= 1' },
    { name: 'promo', condition: 'traits.orders >= 1', purpose: 'marketing' },
    { name: 'reachable', condition: 'consent.marketing = true' },
  ],
};

const order = (userId: string, t: number, id: string, price = 10) => ({ type: 'track', userId, event: 'Order Completed', messageId: id, timestamp: t, properties: { price } });
const consent = (userId: string, t: number, id: string, decisions: Record<string, unknown>) => ({ type: 'identify', userId, messageId: id, timestamp: t, traits: { consent: decisions } });

async function open(): Promise<{ p: Portrait; clock: import('../src/core/clock.ts').ManualClock }> {
  return openMemory({ ...CONFIG, traits: [...CONFIG.traits], segments: [...CONFIG.segments] });
}

describe('consent per purpose', () => {
  it('identify traits.consent sets consent (not an attribute), with time and source', async () => {
    const { p } = await open();
    try {
      await p.ingest([{ ...consent('u1', T0, 'c1', { marketing: true, analytics: false }), traits: { consent: { marketing: true, analytics: false }, city: 'Lima' } }]);
      await p.drain();
      const v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual(v.consents, {
        analytics: { granted: false, time: new Date(T0).toISOString(), source: 'identify', messageId: 'c1' },
        marketing: { granted: true, time: new Date(T0).toISOString(), source: 'identify', messageId: 'c1' },
      }, 'both decisions are kept with time and source');
      assert.deepEqual(v.attributes, { city: 'Lima' }, 'consent is not an attribute; the other traits are');
      const r = await p.consent('user_id', 'u1');
      assert.equal(r.purposes.personalisation!.granted, false, 'a purpose without a decision reads as not granted');
      assert.equal(r.purposes.marketing!.granted, true, 'marketing granted');
    } finally {
      await p.close();
    }
  });

  it("context.consent in Segment's categoryPreferences shape maps categories to purposes; the plain form works too", async () => {
    const { p } = await open();
    try {
      await p.ingest([
        { type: 'track', userId: 'u1', event: 'Viewed', messageId: 'a', timestamp: T0, context: { consent: { categoryPreferences: { Advertising: true, Analytics: false, StrictlyNecessary: true } } } },
        { type: 'page', userId: 'u2', name: 'Home', messageId: 'b', timestamp: T0, context: { consent: { personalisation: true } } },
      ]);
      await p.drain();
      const u1 = (await p.profile('user_id', 'u1'))!.consents;
      assert.deepEqual(Object.fromEntries(Object.entries(u1).map(([k, c]) => [k, [c.granted, c.source]])), { analytics: [false, 'context'], marketing: [true, 'context'] }, 'Advertising → marketing, Analytics → analytics, unmapped ignored');
      const u2 = (await p.profile('user_id', 'u2'))!.consents;
      assert.deepEqual(Object.keys(u2), ['personalisation'], 'plain { purpose: boolean } form');
      assert.deepEqual(await p.attributeConflicts('user_id', 'u1'), [], 'an unmapped category is not a problem');
    } finally {
      await p.close();
    }
  });

  it('the API records consent as a logged event (source api) that a rebuild repeats', async () => {
    const { p } = await open();
    try {
      await p.ingest([order('u1', T0, 'o1')]);
      await p.drain();
      const r = await p.setConsent('user_id', 'u1', { marketing: true });
      assert.match(r.messageId, /^consent-/, 'the appended message id');
      await p.drain();
      const before = (await p.profile('user_id', 'u1'))!;
      assert.equal(before.consents.marketing!.source, 'api', 'source api');
      assert.equal(before.consents.marketing!.messageId, r.messageId, 'carried by the appended event');
      const events = await p.events('user_id', 'u1');
      assert.ok(events.events.some((e) => e.record.messageId === r.messageId), 'the decision is in the event log');
      await p.rebuild();
      assert.deepEqual((await p.profile('user_id', 'u1'))!.consents, before.consents, 'a rebuild repeats it');
      // By another identifier of the profile: recorded under its user id.
      const byProfile = await p.setConsent('profile_id', before.id, { marketing: false });
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))!.consents.marketing!.messageId, byProfile.messageId, 'recorded by profile id');
    } finally {
      await p.close();
    }
  });

  it('bad consent input: a clear error from the API, a report from events, nothing else lost', async () => {
    const { p } = await open();
    try {
      const unknown = await errorOf(() => p.setConsent('user_id', 'u1', { marketing: true, newsletter: true }));
      assert.equal(unknown.code, 'PORTRAIT_CONSENT_INVALID', 'unknown purpose code');
      assert.equal(unknown.status, 400, 'a 400');
      assert.deepEqual(unknown.problems.map((x) => x.path), ['/newsletter'], 'names the unknown purpose');
      const notBool = await errorOf(() => p.setConsent('user_id', 'u1', { marketing: 'yes' }));
      assert.match(notBool.problems[0]!.message, /true or false/, 'a non-boolean value is refused');
      assert.equal((await errorOf(() => p.setConsent('user_id', 'u1', {}))).code, 'PORTRAIT_CONSENT_INVALID', 'an empty body is refused');
      assert.equal((await errorOf(() => p.consent('user_id', 'nobody'))).code, 'PORTRAIT_PROFILE_NOT_FOUND', 'reading an unknown profile is a 404');
      assert.equal(await p.profile('user_id', 'u1'), undefined, 'a refused decision appends nothing');

      await p.ingest([{ type: 'identify', userId: 'u1', messageId: 'i1', timestamp: T0, traits: { city: 'Oslo', consent: { marketing: 'yes', newsletter: true, analytics: true } } }]);
      await p.drain();
      const v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual(Object.keys(v.consents), ['analytics'], 'the usable decision applies');
      assert.deepEqual(v.attributes, { city: 'Oslo' }, 'the rest of the event applies');
      const conflicts = await p.attributeConflicts('user_id', 'u1');
      assert.deepEqual(conflicts.map((c) => [c.attribute, c.reason, c.rejected]).sort(), [['traits.consent.marketing', 'consent', 'yes'], ['traits.consent.newsletter', 'consent', true]], 'each unusable value is reported with its field');
    } finally {
      await p.close();
    }
  });
});

describe('purpose-bound computation', () => {
  it('only events at or after the grant feed a purpose-bound trait; withdrawal clears it and exits its segments with a reason', async () => {
    const { p, clock } = await open();
    try {
      await p.ingest([order('u1', T0, 'o1', 5)]);
      await p.drain();
      let v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual([v.traits.orders, v.traits.marketing_orders], [1, 0], 'no consent: the purpose-bound trait counts nothing');
      assert.deepEqual(await p.segments.members('promo').then((m) => m.members.length), 0, 'not a member of a purpose-bound segment');

      clock.set(T0 + DAY);
      await p.ingest([consent('u1', T0 + DAY, 'c1', { marketing: true }), order('u1', T0 + 2 * DAY, 'o2', 7)]);
      await p.drain();
      v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual([v.traits.orders, v.traits.marketing_orders, v.traits.marketing_spend], [2, 1, 7], 'only the order after the grant counts');
      assert.deepEqual((await p.segments.members('promo')).members.map((m) => m.profileId), [v.id], 'member once consented');
      assert.deepEqual((await p.segments.members('reachable')).members.map((m) => m.profileId), [v.id], 'consent.marketing = true holds');

      clock.set(T0 + 3 * DAY);
      await p.setConsent('user_id', 'u1', { marketing: false });
      await p.drain();
      v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual([v.traits.orders, v.traits.marketing_orders, v.traits.marketing_spend], [2, 0, 0], 'withdrawal empties the purpose-bound traits at once');
      assert.deepEqual((await p.segments.members('promo')).members, [], 'removed from the purpose-bound segment at once');
      assert.deepEqual((await p.segments.members('buyers')).members.map((m) => m.profileId), [v.id], 'a segment without a purpose is unaffected');
      const exits = (await p.segments.outbox()).filter((o) => o.kind === 'segment.exited').map((o) => o.payload as { segment: string; reason: string });
      assert.deepEqual(exits.map((e) => [e.segment, e.reason]).sort(), [['promo', 'consent_withdrawn:marketing'], ['reachable', 'event']], 'segment.exited names the withdrawal');
      const why = await p.segments.explain('segment', 'reachable', 'user_id', 'u1');
      assert.deepEqual([why.member, why.explanation.ref, why.explanation.value], [false, 'consent.marketing', false], 'explain shows the consent value');
      const promo = await p.segments.explain('segment', 'promo', 'user_id', 'u1');
      assert.deepEqual(promo.explanation.children?.[0], { condition: 'consent.marketing = true', held: false, ref: 'consent.marketing', value: false }, 'explain shows the purpose gate');
      assert.equal(promo.explanation.children?.[1]?.held, true, 'while the condition itself holds');
      const history = await p.history('user_id', 'u1');
      assert.deepEqual(history[0]!.changes['trait.marketing_orders'], [1, 0], 'the clearing is in the trait history');
      assert.deepEqual(history[0]!.changes['consent.marketing'], [true, false], 'and the consent change');

      await p.ingest([order('u1', T0 + 3 * DAY + 1, 'o3')]);
      await p.drain();
      v = (await p.profile('user_id', 'u1'))!;
      assert.equal(v.traits.marketing_orders, 0, 'events after the withdrawal do not feed it');
      const past = (await p.profile('user_id', 'u1', { at: T0 + 2 * DAY }))!;
      assert.equal(past.traits.marketing_orders, 1, 'the profile as of a past time has the consent then in force');
      assert.equal(past.consents.marketing!.granted, true, 'and shows it');
    } finally {
      await p.close();
    }
  });

  it('a manual tag with a purpose is held only while that consent is granted; the decision to tag stays; a rebuild agrees', async () => {
    const { p, clock } = await openMemory({ ...CONFIG, traits: [...CONFIG.traits], segments: [...CONFIG.segments], tags: [{ name: 'crm/callback', purpose: 'marketing' }] });
    try {
      await p.ingest([order('u1', T0, 'o1')]);
      await p.drain();
      const set = await p.segments.tag('crm/callback', 'user_id', 'u1', true);
      await p.drain();
      assert.equal(set.changed, true, 'the decision is recorded');
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members, [], 'not held without marketing consent');
      let why = await p.segments.explain('tag', 'crm/callback', 'user_id', 'u1');
      assert.deepEqual(
        [why.member, why.explanation.condition, why.explanation.children?.map((c) => [c.condition, c.held])],
        [false, 'purpose marketing: set manually: crm/callback', [['consent.marketing = true', false], ['set manually: crm/callback', true]]],
        'explained by the gate',
      );

      clock.set(T0 + DAY);
      await p.ingest([consent('u1', T0 + DAY, 'c1', { marketing: true })]);
      await p.drain();
      const id = (await p.profile('user_id', 'u1'))!.id;
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members.map((m) => m.profileId), [id], 'granted: held');
      why = await p.segments.explain('tag', 'crm/callback', 'user_id', 'u1');
      assert.equal(why.member, true);

      clock.set(T0 + 2 * DAY);
      await p.setConsent('user_id', 'u1', { marketing: false });
      await p.drain();
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members, [], 'withdrawn: let go at once');
      const exits = (await p.segments.outbox()).filter((o) => o.kind === 'tag.exited').map((o) => o.payload as { tag: string; reason: string; source: string });
      assert.deepEqual(exits.map((e) => [e.tag, e.reason, e.source]), [['crm/callback', 'consent_withdrawn:marketing', 'manual']], 'tag.exited names the withdrawal');
      assert.deepEqual((await p.segments.ofProfile({ workspace: 'default', id })).tags, [], 'the profile lists no tag');

      clock.set(T0 + 3 * DAY);
      await p.setConsent('user_id', 'u1', { marketing: true });
      await p.drain();
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members.map((m) => m.profileId), [id], 'granted again: held again, the decision was kept');

      const before = await p.stateDump();
      await p.rebuild();
      await p.drain();
      assert.deepEqual(await p.stateDump(), before, 'a rebuild reaches the same state');
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members.map((m) => m.profileId), [id], 'and the same membership');
    } finally {
      await p.close();
    }
  });

  it('a consent decision arriving late gives the same state as in event-time order', async () => {
    const events = [order('u1', T0, 'o1'), consent('u1', T0 + 10, 'c1', { marketing: true }), order('u1', T0 + 20, 'o2'), order('u1', T0 + 30, 'o3'), consent('u1', T0 + 25, 'c2', { marketing: false }), consent('u1', T0 + 28, 'c3', { marketing: true })];
    const run = async (msgs: unknown[]) => {
      const { p } = await open();
      try {
        for (const m of msgs) {
          await p.ingest([m]);
          await p.drain();
        }
        const v = (await p.profile('user_id', 'u1'))!;
        const { id: _id, ...rest } = v;
        return { view: rest };
      } finally {
        await p.close();
      }
    };
    const inOrder = await run([...events].sort((a, b) => a.timestamp - b.timestamp));
    const late = await run(events);
    const reversed = await run([...events].reverse());
    assert.equal(inOrder.view.traits.marketing_orders, 1, 'only o3 (after the re-grant at +28) counts');
    assert.deepEqual(late.view, inOrder.view, 'late decisions refold to the same state');
    assert.deepEqual(reversed.view, inOrder.view, 'reversed arrival gives the same state');
  });

  it('a purpose-bound destination hears only about profiles that granted its purpose, and nothing after a withdrawal', async () => {
    const { p, clock } = await openMemory({ ...CONFIG, traits: [...CONFIG.traits], segments: [...CONFIG.segments], outbox: { profileUpdated: true } });
    try {
      // Paused: deliveries are made by dispatching by hand here, nothing is sent.
      await p.destinations.create('default', { id: 'mkt', url: 'http://127.0.0.1:9/hook', kinds: ['segment.entered', 'segment.exited', 'profile.updated'], purpose: 'marketing', enabled: false });
      await p.destinations.create('default', { id: 'all', url: 'http://127.0.0.1:9/hook', kinds: ['segment.entered', 'segment.exited', 'profile.updated'], enabled: false });
      await p.ingest([order('u1', T0, 'o1')]);
      await p.drain();
      clock.advance(DAY);
      await p.ingest([consent('u1', T0 + DAY, 'c1', { marketing: true })]);
      await p.drain();
      clock.advance(DAY);
      await p.setConsent('user_id', 'u1', { marketing: false });
      await p.drain();
      clock.advance(DAY);
      await p.ingest([order('u1', T0 + 3 * DAY, 'o2')]);
      await p.drain();
      const sent = async (id: string) => {
        const d = (await p.destinations.store.destination(id))!;
        await p.destinations.store.dispatch(d, 1000, clock.now());
        return (await p.destinations.deliveries('default', id)).items.map((x) => {
          const body = JSON.parse(x.body) as { type: string; data: { segment?: string; reason?: string } };
          return `${body.type}${body.data.segment ? ` ${body.data.segment}` : ''}`;
        });
      };
      assert.deepEqual(await sent('mkt'), ['profile.updated', 'segment.entered promo', 'segment.entered reachable'], 'only what was written while marketing was granted');
      const all = await sent('all');
      assert.ok(all.includes('segment.exited promo') && all.filter((x) => x === 'profile.updated').length === 4, `a destination without a purpose hears everything (${all.join(', ')})`);
      const body = JSON.parse((await p.destinations.deliveries('default', 'mkt')).items[0]!.body) as { data: Record<string, unknown> };
      assert.equal(body.data.consented, undefined, 'the consent bookkeeping is not sent to receivers');
      await assert.rejects(p.destinations.create('default', { url: 'http://127.0.0.1:9/x', kinds: ['profile.updated'], purpose: 'newsletter' }), /unknown purpose "newsletter"/, 'an unknown purpose is refused');
    } finally {
      await p.close();
    }
  });
});

describe('consent configuration', () => {
  it('purposes are configured; a definition naming another purpose is an error with its path', () => {
    assert.throws(
      () => resolveConfig({ traits: [{ name: 'x', kind: 'count', purpose: 'newsletter' }], privacy: { consentCategories: { promo: 'ads' } } }),
      (e: PortraitError) =>
        e.code === 'PORTRAIT_CONFIG_INVALID' &&
        e.problems.some((p) => p.path === '/traits/0/purpose' && /unknown purpose "newsletter"/.test(p.message)) &&
        e.problems.some((p) => p.path === '/privacy/consentCategories/promo'),
      'unknown purposes of traits and categories',
    );
    const ok = resolveConfig({ traits: [{ name: 'x', kind: 'count', purpose: 'newsletter' }], segments: [{ name: 's', condition: 'consent.newsletter = true', purpose: 'newsletter' }], privacy: { purposes: ['newsletter'], consentCategories: {} } });
    assert.equal(ok.segmentDefinitions[0]!.purpose, 'newsletter', 'a configured purpose is accepted');
  });

  it('a custom category map routes consent-manager categories to purposes', async () => {
    const { p } = await openMemory({ privacy: { purposes: ['newsletter'], consentCategories: { C0004: 'newsletter' } } });
    try {
      await p.ingest([{ type: 'page', userId: 'u1', name: 'Home', messageId: 'x', timestamp: T0, context: { consent: { categoryPreferences: { c0004: true } } } }]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))!.consents.newsletter!.granted, true, 'categories match in lower case');
    } finally {
      await p.close();
    }
  });
});

describe('consent with the engine in its worker thread (files)', () => {
  it('late decisions refold there too, and the state survives a restart and a rebuild', async () => {
    const { dir, cleanup } = tempDir('portrait-consent-');
    const config = { dataDir: dir, durability: 'normal' as const, identity: { hashKey: 'ab'.repeat(32) }, traits: [...CONFIG.traits], segments: [...CONFIG.segments] };
    try {
      let p = await PortraitClass.open(config);
      try {
        await p.ingest([order('u1', T0 + 20, 'o2', 3), order('u1', T0, 'o1', 4)]);
        await p.drain();
        await p.ingest([consent('u1', T0 + 10, 'c1', { marketing: true })]);
        await p.drain();
        const v = (await p.profile('user_id', 'u1'))!;
        assert.deepEqual([v.traits.orders, v.traits.marketing_orders, v.traits.marketing_spend], [2, 1, 3], 'the late grant counts the order after it, not the one before');
      } finally {
        await p.close();
      }
      p = await PortraitClass.open(config);
      try {
        const before = (await p.profile('user_id', 'u1'))!;
        assert.equal(before.traits.marketing_orders, 1, 'kept across a restart');
        await p.rebuild();
        assert.deepEqual((await p.profile('user_id', 'u1'))!.traits, before.traits, 'a rebuild gives the same traits');
      } finally {
        await p.close();
      }
    } finally {
      cleanup();
    }
  });
});
