import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { NatsEventLog } from '../src/log/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { NATS_URL, serviceSkip, tempDatabase } from './support/services.ts';

const skip = await serviceSkip('PostgreSQL');
const clusterSkip = skip || (await serviceSkip('NATS'));

const person = (n: string, city: string) => [
  { type: 'page', anonymousId: `anon-${n}-x7`, name: 'Home', messageId: `p-${n}` },
  { type: 'identify', userId: `user-${n}-q9`, anonymousId: `anon-${n}-x7`, traits: { city, email: `${n}@mail.example` }, messageId: `i-${n}` },
  { type: 'track', userId: `user-${n}-q9`, event: 'Order Completed', properties: { total: 30 }, messageId: `t-${n}` },
];

/** Every row of every table of the database, as text. */
async function everyRow(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const tables = (await c.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)).rows;
    const out: string[] = [];
    for (const { t } of tables) for (const r of (await c.query(`SELECT x::text AS row FROM "${t}" x`)).rows as Array<{ row: string }>) out.push(r.row);
    return out.join('\n');
  } finally {
    await c.end();
  }
}

describe('privacy on PostgreSQL', { skip }, () => {
  it('erases a person from PostgreSQL state (the log on SQLite), suppresses late events, and a rebuild equals the state', async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    try {
      const p = await Portrait.open(
        {
          dataDir: dir,
          identity: { hashKey: 'ab'.repeat(32) },
          cluster: { databaseUrl: db.url },
          traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
          segments: [{ name: 'buyers', condition: 'traits.orders >= 1' }],
        },
        { clock: new ManualClock(T0) },
      );
      try {
        await p.ingest([...person('ann', 'Lima'), ...person('bob', 'Quito')]);
        await p.drain();
        const out = await p.privacy.export('user_id', 'user-ann-q9');
        assert.equal(out.events.length, 3, 'the export reads the events');
        const before = await everyRow(db.url);
        assert.ok(before.includes('user-ann-q9') && before.includes('anon-ann-x7'), 'before the erasure the identifiers are in PostgreSQL (the test can fail)');

        const done = await p.privacy.waitFor((await p.privacy.erase('user_id', 'user-ann-q9', { keyId: 'k1' })).id);
        assert.equal(done.status, 'completed', 'the erasure completed');
        assert.equal(done.requestedBy, 'k1', 'the ledger names the key that asked');
        assert.equal(done.removed.profiles, 1, 'one profile');
        assert.equal(done.removed.events, 3, 'three events deleted from the log');
        assert.equal(done.removed.segmentMemberships, 1, 'the buyers membership');
        assert.equal(await p.profile('user_id', 'user-ann-q9'), undefined, 'the profile is gone');
        assert.equal(await p.profile('anonymous_id', 'anon-ann-x7'), undefined, 'by any identifier');
        assert.ok(await p.profile('user_id', 'user-bob-q9'), 'the other person stays');
        assert.deepEqual([...(await p.segments.memberIds('buyers'))], [(await p.profile('user_id', 'user-bob-q9'))!.id], 'only bob is a buyer');

        const late = await p.ingest([{ type: 'track', userId: 'user-ann-q9', event: 'Again', messageId: 't-late' }]);
        assert.equal(late.outcomes[0]!.status, 'suppressed', 'a late event of the person is suppressed');
        await p.drain();
        assert.equal(await p.profile('user_id', 'user-ann-q9'), undefined, 'and does not recreate the person');

        await p.privacy.compact();
        const after = await everyRow(db.url);
        for (const id of ['user-ann-q9', 'anon-ann-x7', 'Lima']) assert.ok(!after.includes(id), `no row of any table holds ${id} after the erasure`);
        assert.ok(after.includes('user-bob-q9'), "the other person's rows are still there");

        const state = await p.stateDump();
        await p.rebuild();
        assert.deepEqual(await p.stateDump(), state, 'a rebuild after the erasure equals the state');
        assert.equal((await p.privacy.erasures()).length, 1, 'one ledger entry');
      } finally {
        await p.close();
      }
    } finally {
      await db.drop();
      cleanup();
    }
  });

  it('with the log on NATS JetStream (partitioned workers): erases the state and shreds the events, which stay in the stream unreadable', { skip: clusterSkip }, async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    const stream = `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`;
    const shop = (n: string) => [
      { type: 'identify', userId: `user-${n}-q9`, traits: { city: 'Lima', email: `${n}@mail.example`, phone: `555-${n}` }, messageId: `i-${n}` },
      { type: 'track', userId: `user-${n}-q9`, event: 'Order Completed', properties: { total: 30 }, messageId: `t-${n}` },
    ];
    try {
      const p = await Portrait.open(
        { dataDir: dir, identity: { hashKey: 'ab'.repeat(32) }, cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions: 2 }, traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] },
        { clock: new ManualClock(T0) },
      );
      try {
        await p.ingest([...shop('ann'), ...shop('bob'), ...shop('cyd')]);
        await p.drain();
        const done = await p.privacy.waitFor((await p.privacy.erase('email', 'ann@mail.example')).id);
        assert.equal(done.status, 'completed', 'the partition engine that owns the profile carried the erasure out');
        assert.deepEqual([done.removed.profiles, done.removed.events], [1, 0], 'the profile is removed; the events stay in the stream');
        assert.equal(await p.profile('user_id', 'user-ann-q9'), undefined, 'the profile is gone');
        const raw = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 2 });
        try {
          const anns = (await raw.read(0, 1000)).filter((r) => r.record.type !== 'erase' && 'userId' in r.record && r.record.userId === 'user-ann-q9');
          assert.equal(anns.length, 2, 'both events are still in the stream');
          assert.ok(!JSON.stringify(anns).includes('ann@mail.example'), 'holding no plaintext email');
        } finally {
          await raw.close();
        }
        const late = await p.ingest([{ type: 'track', userId: 'user-ann-q9', event: 'Again', messageId: 't-late' }]);
        assert.equal(late.outcomes[0]!.status, 'suppressed', 'a late event is suppressed');
        const state = await p.stateDump();
        await p.rebuild();
        assert.deepEqual(await p.stateDump(), state, 'a rebuild (replaying the shredded events and the erase record) equals the state');
        assert.equal(await p.profile('user_id', 'user-ann-q9'), undefined, 'and does not bring the person back');
        assert.equal((await p.shred('user_id', 'user-ann-q9')).destroyed, 0, "the person's data key is already destroyed");
        assert.equal((await p.shred('user_id', 'user-bob-q9')).destroyed, 1, 'another person still had one (control; shredded last, as it changes what a rebuild reads)');
      } finally {
        await p.close();
      }
    } finally {
      const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 2 });
      await admin.destroy();
      await db.drop();
      cleanup();
    }
  });
});
