/**
 * Destinations on PostgreSQL end to end: over the HTTP routes (no 501), an
 * event makes a profile enter a segment, the engine's commit writes the
 * outbox, the delivery loop posts the notification to a local receiver that
 * fails the first attempts, once in the end and signed; the delivery log,
 * audience export with sealed personal values opened, and erasure of the
 * person's deliveries.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { verifySignature } from '../src/destinations/index.ts';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller } from './support/http.ts';
import { tempDir, T0 } from './support/open.ts';
import { startReceiver } from './support/receiver.ts';
import { serviceSkip, tempDatabase } from './support/services.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON responses read loosely in tests

const skip = await serviceSkip('PostgreSQL');
const SECRET = 'whsec_pg_0123456789abcdef';

async function until(what: string, f: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await f())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('destinations on PostgreSQL', { skip }, () => {
  it('serves /v1/destinations, delivers segment notifications once through failures, exports with personal values opened, and erases deliveries', async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    // The first two attempts of every delivery fail.
    const receiver = await startReceiver((r) => (r.nth <= 2 ? 500 : 200));
    const clock = new ManualClock(T0);
    const p = await Portrait.open(
      {
        dataDir: dir,
        identity: { hashKey: 'ef'.repeat(32) },
        cluster: { databaseUrl: db.url },
        traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
        segments: [{ name: 'buyers', condition: 'traits.orders >= 1' }],
        delivery: { backoffBaseMs: 1, backoffCapMs: 1, idleMs: 20 },
      },
      { clock },
    );
    const app = buildServer(p);
    const call = caller(() => app);
    try {
      const admin = (await p.keys.create('default', ['write', 'read', 'admin', 'pii'])).key;
      const created = await call('POST', '/v1/destinations', admin, { id: 'crm', url: `${receiver.url}/crm`, secret: SECRET, kinds: ['segment.entered'] });
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(((await call('GET', '/v1/destinations', admin)).json() as Json).destinations.map((d: Json) => d.id), ['crm'], 'listed');

      await p.ingest([
        { type: 'identify', userId: 'ann', traits: { email: 'ann@mail.example', city: 'Lima' }, messageId: 'i1', timestamp: T0 },
        { type: 'track', userId: 'ann', event: 'Order Completed', messageId: 't1', timestamp: T0 },
      ]);
      await p.drain();
      // The manual clock holds retries until it moves: step it while waiting.
      await until('the delivery', async () => {
        clock.advance(5);
        p.destinations.wake();
        return receiver.successes().size > 0;
      });
      assert.deepEqual([...receiver.successes().values()], [1], 'answered 2xx once');
      const attempts = receiver.received.filter((r) => r.path === '/crm');
      assert.equal(attempts.length, 3, 'two failures, then the success');
      for (const r of attempts) assert.ok(verifySignature(SECRET, r.headers['portrait-signature'] as string, r.body, { now: clock.now(), toleranceSec: 3600 }).ok, 'signed');
      assert.equal((JSON.parse(attempts[0]!.body) as Json).data.segment, 'buyers', 'segment.entered buyers');

      // The worker records the outcome once the answer is in: wait until the delivery is no longer pending.
      let log: Json = {};
      await until('the delivery to be recorded', async () => {
        log = (await call('GET', '/v1/destinations/crm/deliveries', admin)).json() as Json;
        return log.deliveries.every((d: Json) => d.status !== 'pending');
      });
      assert.deepEqual(log.deliveries.map((d: Json) => [d.status, d.attempts]), [['delivered', 3]], 'the delivery log agrees');

      const csv = await call('GET', '/v1/segments/buyers/export?format=csv&fields=email,city', admin);
      assert.equal(csv.statusCode, 200, csv.body);
      const lines = csv.body.trimEnd().split('\r\n');
      assert.equal(lines.length, 2, 'header and one member');
      assert.match(lines[1]!, /,ann@mail\.example,Lima$/, 'the sealed email is opened for a pii key');

      const done = await p.privacy.waitFor((await p.privacy.erase('user_id', 'ann')).id);
      assert.equal(done.status, 'completed', 'erased');
      assert.equal(done.removed.deliveries, 1, 'the person’s delivery is erased with the profile');
      assert.deepEqual(((await call('GET', '/v1/destinations/crm/deliveries', admin)).json() as Json).deliveries, [], 'the delivery log no longer names the person');
    } finally {
      await app.close();
      await p.close();
      await receiver.close();
      await db.drop();
      cleanup();
    }
  });
});
