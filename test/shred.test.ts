/** Crypto-shredding end to end: a file-backed Portrait (engine in its worker thread) with sealing on. */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { NatsEventLog } from '../src/log/index.ts';
import { NATS_URL, serviceSkip, tempDatabase } from './support/services.ts';
import { tempDir, T0 } from './support/open.ts';

const TRAITS = [
  { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } },
  { name: 'spent', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.total' },
  { name: 'last_email', kind: 'last', filter: { event: 'Order Completed' }, value: 'properties.email' },
];

function messages(users: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < users; i++) {
    // Every third person also browsed anonymously before: an event owned by the anonymous id.
    if (i % 3 === 0) out.push({ type: 'page', messageId: `pg-${i}`, anonymousId: `anon-${i}`, name: 'Signup', properties: { email: `person${i}@mail.example`, path: '/signup' }, timestamp: new Date(T0 - i * 2000).toISOString() });
    out.push({ type: 'identify', messageId: `id-${i}`, anonymousId: `anon-${i}`, userId: `u${i}`, traits: { email: `person${i}@mail.example`, phone: `555-01${i}`, plan: i % 2 ? 'pro' : 'free' }, timestamp: new Date(T0 - i * 1000).toISOString() });
    out.push({ type: 'track', messageId: `tr-${i}`, userId: `u${i}`, event: 'Order Completed', properties: { total: i, email: `person${i}@mail.example` }, timestamp: new Date(T0 - i * 500).toISOString() });
  }
  return out;
}

const filesText = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('log.db'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');

describe('crypto-shredding through Portrait', () => {
  it('links identities by the sealed email, rebuilds to the same state, and after shred reads the events without personal fields', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: TRAITS, identity: { hashKey: 'ab'.repeat(32) } }, { clock: new ManualClock(T0) });
    try {
      await p.ingest(messages(60));
      await p.drain();
      assert.ok(!filesText(dir).includes('@mail.example'), 'the log files hold no plaintext email');
      const viaEmail = await p.profile('email', 'person4@mail.example');
      assert.ok(viaEmail !== undefined, 'the engine thread opened the sealed email and linked it');
      assert.equal((await p.profile('user_id', 'u4'))?.id, viaEmail.id, 'the email and the user id hold one profile');
      const incremental = await p.stateDump();
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), incremental, 'rebuild equals incremental with sealing on');

      assert.deepEqual(await p.shred('user_id', 'u3'), { destroyed: 2 }, "u3's key and the key of the anonymous id that owned its identify are destroyed");
      const events = (await p.events('user_id', 'u3')).events.map((e) => e.record);
      assert.equal(events.length, 3, 'the events stay in the log');
      for (const e of events) {
        assert.equal(e.context?.shredded, true, `${e.messageId} is marked shredded`);
        assert.equal(e.traits?.email ?? e.properties?.email ?? e.traits?.phone, undefined, `${e.messageId} reads without its email and phone`);
      }
      assert.equal(events.find((e) => e.type === 'track')?.properties?.total, 3, 'fields that are not personal still read');
      const other = (await p.events('user_id', 'u6')).events.map((e) => e.record);
      assert.ok(other.some((e) => e.traits?.email === 'person6@mail.example'), "another person's events still open");

      // The identify's email leaves its reference (a keyed hash under a MAC, no part of the address): a rebuild links it as before.
      const identify = events.find((e) => e.type === 'identify')!;
      assert.match(String(identify.context?.shreddedEmail), /^pdh\.[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{22}$/, 'the shredded email left its reference');
      assert.ok(!JSON.stringify(events).includes('person3'), 'no part of the address stays');
      assert.ok(events.filter((e) => e.type !== 'identify').every((e) => e.context?.shreddedEmail === undefined), 'a property email links nothing, so leaves nothing');
      const before = await p.profile('email', 'person3@mail.example');
      assert.equal(before?.identities.userIds[0], 'u3', 'the shred left the identity graph as it was');
      await p.rebuild();
      assert.deepEqual((await p.profile('email', 'person3@mail.example'))?.identities, before.identities, "after a rebuild the email's hash still finds the person, with the same identities");
      {
        const u3 = await p.profile('user_id', 'u3');
        assert.equal(u3?.traits.orders, 1, "u3's aggregates rebuild from what remains");
        assert.equal(u3?.traits.last_email, null, 'a trait over a shredded field reads as unset');
      }
      assert.ok((await p.profile('email', 'person6@mail.example')) !== undefined, 'other people are unaffected');
    } finally {
      await p.close();
      cleanup();
    }
  });

  it('an erasure destroys the data keys of every identifier of the person (engine thread)', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: TRAITS, identity: { hashKey: 'ab'.repeat(32) } }, { clock: new ManualClock(T0) });
    try {
      await p.ingest(messages(4));
      await p.drain();
      const entry = await p.privacy.erase('user_id', 'u0');
      await p.privacy.waitFor(entry.id);
      assert.equal((await p.shred('user_id', 'u0')).destroyed, 0, "u0's key is already gone");
      assert.equal((await p.shred('anonymous_id', 'anon-0')).destroyed, 0, "the key of u0's anonymous id is gone too");
      assert.equal((await p.shred('user_id', 'u3')).destroyed, 2, 'another person keeps theirs (control: user and anonymous id)');
    } finally {
      await p.close();
      cleanup();
    }
  });

  it('an identifier that owns no events destroys nothing and fails nothing', async () => {
    const { dir, cleanup } = tempDir();
    const p = await Portrait.open({ dataDir: dir, identity: { hashKey: 'ab'.repeat(32) } }, { clock: new ManualClock(T0) });
    try {
      assert.deepEqual(await p.shred('user_id', 'nobody'), { destroyed: 0 }, 'nothing to destroy');
      await assert.rejects(p.shred('no_such_type', 'x'), (e: { code?: string }) => typeof e.code === 'string' && e.code.startsWith('PORTRAIT_'), 'an unknown identifier type is a typed error');
    } finally {
      await p.close();
      cleanup();
    }
  });
});

const clusterSkip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

describe('crypto-shredding and retention on PostgreSQL and NATS JetStream', { skip: clusterSkip }, () => {
  it('seals before JetStream, opens for the engine, shreds, and purges by retention with the log in PostgreSQL', async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    const stream = `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`;
    const clock = new ManualClock(T0);
    const deleted: string[] = [];
    const p = await Portrait.open(
      // One partition: an anonymous id and its user id merge (across partitions they stay apart, see Partitioned workers).
      { dataDir: dir, traits: TRAITS, identity: { hashKey: 'ab'.repeat(32) }, cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions: 1 }, privacy: { retention: { rules: [{ type: 'page', days: 1 }], inactiveProfileDays: 365 } } },
      { clock, deleteProfile: async (_w, id) => void deleted.push(id) },
    );
    const raw = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 1 });
    try {
      await p.ingest(messages(9));
      await p.drain();
      const bodies = JSON.stringify(await raw.read(0, 1000));
      assert.ok(!bodies.includes('@mail.example') && bodies.includes('pd1.'), 'JetStream holds sealed tokens, no plaintext email');
      assert.equal((await p.profile('email', 'person3@mail.example'))?.id, (await p.profile('user_id', 'u3'))?.id, 'the engine linked the sealed email');
      assert.deepEqual(await p.shred('email', 'person3@mail.example'), { destroyed: 2 }, 'found by email, both owners of u3 shredded');
      const events = (await p.events('user_id', 'u3')).events.map((e) => e.record);
      assert.ok(events.length === 3 && events.every((e) => e.context?.shredded === true && e.traits?.email === undefined && e.properties?.email === undefined), 'u3 reads shredded on JetStream');

      clock.advance(2 * 86_400_000);
      const report = await p.runRetention();
      assert.deepEqual(report.events.map((e) => e.purged), [3], 'two days later the three page events are purged from JetStream');
      assert.deepEqual(report.profiles, [{ workspace: '*', purged: 0 }], 'nobody is inactive yet');
      assert.equal((await raw.read(0, 1000)).filter((r) => r.record.type === 'page').length, 0, 'no page message is left in the stream');
      clock.advance(400 * 86_400_000);
      const later = await p.runRetention();
      assert.equal(later.profiles[0]?.purged, deleted.length, 'every profile is inactive 400 days later and handed to the deletion');
      assert.ok(deleted.length >= 9, `at least the nine people (${deleted.length})`);
      const log = await p.retentionLog();
      assert.deepEqual(log.map((r) => r.kind), ['profiles', 'events', 'profiles', 'events'], 'each pass is logged in PostgreSQL, newest first');
    } finally {
      await raw.close();
      await p.close();
      const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 1 });
      await admin.destroy();
      await db.drop();
      cleanup();
    }
  });
});
