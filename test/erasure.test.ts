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
function person(n: number): { ids: string[]; sealed: string[]; messages: Array<Record<string, unknown>> } {
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
  // email and phone are personal fields (privacy.piiFields): sealed in the log and in the state, never in clear on disk.
  return { ids: [userId, anonymousId, email, phone, name, city, street, `crm-${n}-77`], sealed: [email, phone], messages };
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

  it('erases the profile a merge absorbed the named one into, when the merge was still on its way', async () => {
    const { p } = await openMemory();
    try {
      await p.ingest([
        { type: 'identify', userId: 'old-1', anonymousId: 'a-old-1', traits: { city: 'Oldtown' }, messageId: 'o1', timestamp: new Date(T0 - 5 * DAY).toISOString() },
        { type: 'track', anonymousId: 'a-new-1', event: 'Viewed', messageId: 'n1', timestamp: new Date(T0 - DAY).toISOString() },
      ]);
      await p.drain();
      // Appended, not yet folded: the erasure below resolves the anonymous profile, which this merges away.
      await p.ingest([{ type: 'identify', userId: 'old-1', anonymousId: 'a-new-1', messageId: 'm1', timestamp: new Date(T0).toISOString() }]);
      const done = await p.privacy.waitFor((await p.privacy.erase('anonymous_id', 'a-new-1')).id);
      assert.equal(done.status, 'completed', 'the erasure completed');
      assert.equal(await p.profile('user_id', 'old-1'), undefined, 'the surviving profile holding the person is erased');
      assert.equal(await p.profile('anonymous_id', 'a-old-1'), undefined, 'with all its identifiers');
      assert.equal(await p.profileCount(), 0, 'no profile is left');
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
      assert.deepEqual(out.consents, { analytics: { granted: false }, marketing: { granted: false }, personalisation: { granted: false } }, 'every purpose, none granted by this person');
      await p.privacy.waitFor((await p.privacy.erase('profile_id', out.profile.id)).id);
      await assert.rejects(p.privacy.export('user_id', 'zuser-4-q7x'), { code: 'PORTRAIT_PROFILE_NOT_FOUND' }, 'nothing to export after the erasure');
    } finally {
      await p.close();
    }
  });
});

/** Which of these strings occur anywhere in the bytes of the files of a directory. */
function foundInFiles(dir: string, needles: readonly string[]): string[] {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
  return needles.filter((n) => files.some((bytes) => bytes.includes(Buffer.from(n, 'utf8'))));
}

describe('erasure on files', () => {
  it('leaves none of the identifiers or attribute values in any file of the data directory (db, -wal, -shm) after compaction', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: [...TEN_TRAITS], identity: { hashKey: 'cd'.repeat(32) } }, { clock: new ManualClock(T0) });
    try {
      const a = person(5);
      const b = person(6);
      await p.ingest([...a.messages, ...b.messages]);
      await p.ingest([{ type: 'track', userId: 'zuser-5-q7x', event: 9, messageId: 'bad-1' }]);
      await p.drain();
      // The test can fail: before the erasure, every value not sealed at rest is in the files.
      assert.deepEqual(foundInFiles(dir, a.ids), a.ids.filter((v) => !a.sealed.includes(v)), 'before the erasure, every identifier and value is in the files, except the sealed personal fields');
      const pending = await p.privacy.erase('user_id', 'zuser-5-q7x');
      const done = await p.privacy.waitFor(pending.id);
      assert.equal(done.status, 'completed', 'the erasure completed');
      await p.privacy.compact();
      assert.deepEqual(foundInFiles(dir, a.ids), [], 'after erasure and compaction, none of them is left in any file');
      assert.deepEqual(foundInFiles(dir, b.ids), b.ids.filter((v) => !b.sealed.includes(v)), "the other person's data is still there");
      assert.ok(await p.profile('user_id', 'zuser-6-q7x'), 'the other person still reads');
    } finally {
      await p.close();
      cleanup();
    }
  });
});

describe('erasure and rebuild', () => {
  it('a rebuild after erasures equals the incremental state (merges, groups, unmerges, late events)', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: [...TEN_TRAITS], identity: { hashKey: 'ab'.repeat(32) } }, { clock: new ManualClock(T0) });
    try {
      let batch: unknown[] = [];
      let sent = 0;
      const erased: string[] = [];
      for (const m of workload({ events: 20_000, users: 1_000, seed: 11, start: T0 - 30 * DAY })) {
        batch.push(m);
        if (batch.length < 1000) continue;
        await p.ingest(batch);
        sent += batch.length;
        batch = [];
        if (sent % 4000 === 0) {
          await p.drain();
          // Erase a known user, by user id or by their profile id; keep going with more traffic after.
          const userId = `u${sent / 100}`;
          const view = await p.profile('user_id', userId);
          if (view !== undefined) {
            const entry = await p.privacy.erase(sent % 8000 === 0 ? 'profile_id' : 'user_id', sent % 8000 === 0 ? view.id : userId);
            erased.push(entry.id);
          }
        }
      }
      await p.ingest(batch);
      await p.drain();
      assert.ok(erased.length >= 3, 'the workload erases several people');
      for (const id of erased) assert.equal((await p.privacy.erasure(id)).status, 'completed', `erasure ${id} completed`);
      const incremental = await p.stateDump();
      assert.ok(incremental.some((l) => l.startsWith('merges ')), 'the workload produces merges');
      await p.rebuild();
      const rebuilt = await p.stateDump();
      for (let i = 0; i < Math.max(rebuilt.length, incremental.length); i++) if (rebuilt[i] !== incremental[i]) assert.equal(rebuilt[i], incremental[i], `line ${i} differs`);
      assert.equal(rebuilt.length, incremental.length, 'same number of state rows');
      const ledger = await p.privacy.erasures();
      assert.equal(ledger.length, erased.length, 'one ledger entry per erasure, not rewritten by the rebuild');
      assert.ok(ledger.every((e) => (e.removed.events ?? 0) > 0), 'each ledger entry keeps its counts after the rebuild');
    } finally {
      await p.close();
      cleanup();
    }
  });
});

describe('erasure and group profiles', () => {
  it('keeps the group, recomputed without the erased member, equal to a rebuild', async () => {
    const { p } = await openMemory({ traits: [...TEN_TRAITS] });
    try {
      const at = (d: number) => new Date(T0 - d * DAY).toISOString();
      await p.ingest([
        { type: 'group', userId: 'ga', groupId: 'org1', traits: { name: 'Org One', plan: 'free' }, messageId: 'g1', timestamp: at(5) },
        { type: 'group', userId: 'gb', groupId: 'org1', traits: { plan: 'pro' }, messageId: 'g2', timestamp: at(4) },
        { type: 'group', userId: 'ga', groupId: 'org1', traits: { plan: 'enterprise', seats: 9 }, messageId: 'g3', timestamp: at(3) },
        { type: 'group', userId: 'ga', groupId: 'org2', traits: { name: 'Solo Org' }, messageId: 'g4', timestamp: at(3) },
        { type: 'track', userId: 'gb', event: 'Order Completed', properties: { total: 5 }, messageId: 't1', timestamp: at(2) },
        // Attributed to org1 (and to org3 only by the erased member): counted there, and gone with the member.
        { type: 'track', userId: 'ga', event: 'Report Run', context: { groupId: 'org1', groups: { team: 'org3' } }, messageId: 't2', timestamp: at(1) },
        { type: 'track', userId: 'gb', event: 'Report Run', context: { groupId: 'org1' }, messageId: 't3', timestamp: at(2) },
      ]);
      await p.drain();
      assert.equal((await p.profile('group_id', 'org1'))!.attributes.plan, 'enterprise', 'before: the erased member set the latest plan');
      assert.equal((await p.profile('group_id', 'org1'))!.eventCount, 5, 'before: three group calls and two attributed calls');
      assert.equal((await p.profile('group_id', 'org3'))!.eventCount, 1);
      await p.privacy.waitFor((await p.privacy.erase('user_id', 'ga')).id);
      const org1 = await p.profile('group_id', 'org1');
      assert.ok(org1, 'the group profile keeps existing');
      assert.equal(org1.attributes.plan, 'pro', "the group's attributes are recomputed from the remaining members' events");
      assert.equal(org1.attributes.seats, undefined, 'values only the erased member sent are gone');
      assert.equal(org1.eventCount, 2, "the event count is recomputed: the remaining member's group call and attributed call");
      assert.equal(org1.lastSeen, at(2), "the erased member's later attributed call is gone");
      assert.equal(await p.profile('group_id', 'org2'), undefined, 'a group built only from the erased member goes with them');
      assert.equal(await p.profile('group_id', 'org3'), undefined, 'also one the erased member only attributed calls to');
      const incremental = await p.stateDump();
      assert.ok(!incremental.join('\n').includes('enterprise'), "no derived row keeps the erased member's values");
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), incremental, 'a rebuild gives the same state');
    } finally {
      await p.close();
    }
  });
});
