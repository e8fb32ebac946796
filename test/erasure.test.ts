import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { openMemory, tempDir, T0 } from './support/open.ts';
import { TEN_TRAITS, workload } from './support/workload.ts';

const DAY = 86_400_000;

/** A person with everything that identifies them: ids, email, phone, name, city, events with properties. */
function person(n: number): { ids: string[]; messages: Array<Record<string, unknown>> } {
  const userId = `zuser-${n}-q7x`;
  const anonymousId = `zanon-${n}-k3v`;
  const email = `zelda.${n}.hyrule@example.org`;
  const phone = `+86-138-0013-${String(4000 + n)}`;
  const name = `Zelda Harkonnen${n}`;
  const city = `Xanaduville${n}`;
  const street = `${n} Quellenstrasse`;
  const messages: Array<Record<string, unknown>> = [
    { type: 'page', anonymousId, messageId: `m-${n}-1`, name: 'Home', properties: { path: `/secret/${street}` }, timestamp: new Date(T0 - 3 * DAY).toISOString() },
    { type: 'identify', userId, anonymousId, messageId: `m-${n}-2`, traits: { email, phone, name, city, street }, timestamp: new Date(T0 - 2 * DAY).toISOString() },
    { type: 'track', userId, messageId: `m-${n}-3`, event: 'Order Completed', properties: { total: 42.5, shipTo: street, note: `for ${name}` }, timestamp: new Date(T0 - DAY).toISOString() },
    { type: 'track', userId, messageId: `m-${n}-4`, event: 'Product Viewed', properties: { category: 'books', price: 9.99 }, context: { externalIds: [{ type: 'crm', id: `crm-${n}-77`, collection: 'users', encoding: 'none' }] }, timestamp: new Date(T0 - DAY + 1000).toISOString() },
  ];
  return { ids: [userId, anonymousId, email, phone, name, city, street, `crm-${n}-77`], messages };
}

describe('erasure', () => {
  it('removes the profile, its events and derived rows, writes a ledger entry, and suppresses late events', async () => {
    const { p } = await openMemory({ traits: [...TEN_TRAITS] });
    try {
      const a = person(1);
      const b = person(2);
      await p.ingest([...a.messages, ...b.messages]);
      await p.drain();
      assert.ok(await p.profile('email', 'zelda.1.hyrule@example.org'), 'the person exists before the erasure');
      const pending = await p.privacy.erase('email', 'Zelda.1.Hyrule@example.org');
      assert.equal(pending.status, 'pending', 'the erasure starts pending');
      const done = await p.privacy.waitFor(pending.id);
      assert.equal(done.status, 'completed', 'waitFor returns the completed entry');
      assert.equal(done.removed.profiles, 1, 'one profile removed');
      assert.equal(done.removed.events, 4, 'the four events are deleted from the log');
      assert.ok((done.removed.identities ?? 0) >= 4, 'user, anon, email and crm identities removed');
      assert.ok((done.removed.historyRows ?? 0) >= 1, 'trait history removed');
      for (const [t, v] of [['user_id', 'zuser-1-q7x'], ['anonymous_id', 'zanon-1-k3v'], ['external:crm', 'crm-1-77']] as const) {
        assert.equal(await p.profile(t, v), undefined, `no profile by ${t} after the erasure`);
      }
      assert.ok(await p.profile('user_id', 'zuser-2-q7x'), 'the other person is untouched');
      assert.equal((await p.events('user_id', 'zuser-2-q7x')).events.length, 4, "the other person's events stay");
      const ledger = JSON.stringify(await p.privacy.erasures());
      for (const v of a.ids) assert.ok(!ledger.includes(v), `the ledger holds no personal data (${v})`);
      // Late events by any identifier are acknowledged and dropped, valid or not.
      const late = await p.ingest([
        { type: 'track', userId: 'zuser-1-q7x', event: 'x', messageId: 'late-1' },
        { type: 'track', anonymousId: 'fresh', event: 'x', messageId: 'late-2', context: { traits: { email: 'zelda.1.hyrule@example.org' } } },
        { type: 'track', anonymousId: 'zanon-1-k3v', messageId: 'late-3', event: 42 },
      ]);
      assert.deepEqual(late.outcomes.map((o) => o.status), ['suppressed', 'suppressed', 'suppressed'], 'all three are suppressed');
      assert.equal(late.quarantined, 0, 'nothing is quarantined');
      assert.equal(p.stats().suppressed, 3, 'stats count suppressed messages');
      await p.drain();
      assert.equal(await p.profile('user_id', 'zuser-1-q7x'), undefined, 'late events do not recreate the person');
    } finally {
      await p.close();
    }
  });

  it('deletes quarantined messages that name the person, and keeps the others', async () => {
    const { p } = await openMemory();
    try {
      const a = person(3);
      await p.ingest(a.messages);
      const bad = await p.ingest([
        { type: 'track', userId: 'zuser-3-q7x', event: 7, messageId: 'q1' },
        { type: 'track', userId: 'someone-else', event: 7, messageId: 'q2' },
        { type: 'identify', anonymousId: 'x', traits: { email: 'zelda.3.hyrule@example.org' }, timestamp: 'not a time', messageId: 'q3' },
      ]);
      assert.equal(bad.quarantined, 3, 'three invalid messages are quarantined');
      await p.drain();
      const done = await p.privacy.waitFor((await p.privacy.erase('user_id', 'zuser-3-q7x')).id);
      assert.equal(done.removed.quarantine, 2, 'the two quarantined messages naming the person are deleted');
      const left = await p.quarantined();
      assert.deepEqual(left.map((r) => JSON.parse(r.raw).userId), ['someone-else'], "the other person's quarantined message stays");
    } finally {
      await p.close();
    }
  });

  it('answers typed errors for unknown identifiers, bad id types, groups and unknown erasure ids', async () => {
    const { p } = await openMemory();
    try {
      await p.ingest([{ type: 'group', userId: 'u1', groupId: 'org1', traits: { name: 'Org' }, messageId: 'g1' }]);
      await p.drain();
      await assert.rejects(p.privacy.erase('user_id', 'nobody'), { code: 'PORTRAIT_PROFILE_NOT_FOUND' }, 'an unknown person is a 404');
      await assert.rejects(p.privacy.erase('phone_number', 'x'), { code: 'PORTRAIT_IDENTITY_UNKNOWN_TYPE' }, 'an unknown id type is a 400');
      await assert.rejects(p.privacy.erase('group_id', 'org1'), { code: 'PORTRAIT_PRIVACY_GROUP_NOT_ERASABLE' }, 'a group is not a person');
      await assert.rejects(p.privacy.erasure('er_nope'), { code: 'PORTRAIT_PRIVACY_ERASURE_NOT_FOUND' }, 'an unknown erasure is a 404');
      assert.ok(await p.profile('user_id', 'u1'), 'nothing was erased by the refused requests');
    } finally {
      await p.close();
    }
  });

  it('exports everything held on a person, and nothing after the erasure', async () => {
    const { p } = await openMemory({ traits: [...TEN_TRAITS] });
    try {
      const a = person(4);
      await p.ingest(a.messages);
      await p.drain();
      const out = await p.privacy.export('user_id', 'zuser-4-q7x');
      assert.equal(out.events.length, 4, 'all four events, including the anonymous one before identify');
      assert.deepEqual(out.events.map((e) => e.event.messageId), ['m-4-1', 'm-4-2', 'm-4-3', 'm-4-4'], 'events oldest first');
      assert.equal(out.profile.attributes.city, 'Xanaduville4', 'attributes are in the export');
      assert.ok(out.links.length >= 2, 'identity links are in the export');
      assert.ok(out.history.length >= 1, 'history is in the export');
      assert.equal(out.consents, null, 'consents have a place, empty until the consent part fills it');
      await p.privacy.waitFor((await p.privacy.erase('profile_id', out.profile.id)).id);
      await assert.rejects(p.privacy.export('user_id', 'zuser-4-q7x'), { code: 'PORTRAIT_PROFILE_NOT_FOUND' }, 'nothing to export after the erasure');
    } finally {
      await p.close();
    }
  });
});
