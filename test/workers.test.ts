import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { isPortraitError } from '../src/core/errors.ts';
import type { ProfileDoc } from '../src/core/profile.ts';
import { identValue } from '../src/core/identity.ts';
import { resolveConfig } from '../src/config/index.ts';
import { Definitions } from '../src/engine/definitions.ts';
import { Engine } from '../src/engine/engine.ts';
import { engineOptions } from '../src/engine/options.ts';
import { Portrait, type ConfigInput } from '../src/index.ts';
import { NatsEventLog, partitionOf, SqliteEventLog } from '../src/log/index.ts';
import { parseMessage } from '../src/ingest/index.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { comparableDump, waitFor } from './support/cluster.ts';
import { T0 } from './support/open.ts';
import { NATS_URL, serviceSkip, tempDatabase } from './support/services.ts';
import { TEN_TRAITS, workload } from './support/workload.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A database and a stream of their own, and the configuration of a node on them. */
async function deployment(partitions: number): Promise<(cluster?: Partial<NonNullable<ConfigInput['cluster']>>) => ConfigInput> {
  const db = await tempDatabase();
  const stream = `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`;
  cleanups.push(async () => {
    const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions });
    await admin.destroy();
    await db.drop();
  });
  return (cluster = {}) => ({
    traits: [...TEN_TRAITS],
    identity: { hashKey: 'ab'.repeat(32) },
    dataDir: '/nonexistent-portrait-test-dir',
    engine: { commitIntervalMs: 20 },
    cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions, leaseTimeoutMs: 900, ...cluster },
  });
}

async function send(p: Portrait, all: readonly unknown[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < all.length; i += 500) accepted += (await p.ingest(all.slice(i, i + 500))).accepted;
  return accepted;
}

/** Every profile's identifiers are homed in one partition. */
function profilesOf(dump: readonly string[]): ProfileDoc[] {
  return dump.filter((l) => l.startsWith('profile ')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as ProfileDoc);
}

async function leasesOf(p: Portrait): Promise<number[]> {
  return p.cluster?.partitionsHeld() ?? [];
}

describe('partitioned workers on PostgreSQL and NATS JetStream', { skip }, () => {
  it('two workers split the partitions; when one stops renewing, the other takes its partitions over and continues from the committed position', async () => {
    const config = await deployment(4);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    const w1 = await Portrait.open(config({ role: 'worker', workerId: 'w1' }), { clock });
    const w2 = await Portrait.open(config({ role: 'worker', workerId: 'w2' }), { clock });
    cleanups.push(() => api.close(), () => w1.close(), () => w2.close());
    assert.equal(api.cluster?.partitionsHeld().length, 0, 'an API node holds no partition');
    await waitFor(async () => (await leasesOf(w1)).length === 2 && (await leasesOf(w2)).length === 2, 10_000, 'each worker holds two of the four partitions');
    assert.deepEqual([...(await leasesOf(w1)), ...(await leasesOf(w2))].sort(), [0, 1, 2, 3], 'together they hold every partition once');

    const all = [...workload({ events: 3_000, users: 300, seed: 7, duplicateRate: 0.02, start: T0 - 3 * 86_400_000 })];
    let accepted = await send(api, all.slice(0, 1_500));
    await api.drain();
    const held = await leasesOf(w1);
    await w1.cluster!.suspend();
    accepted += await send(api, all.slice(1_500));
    await api.drain();
    assert.deepEqual(await leasesOf(w2), [0, 1, 2, 3], `the surviving worker took over partitions ${held.join(', ')}`);

    const state = await w2.stateDump();
    const users = profilesOf(state).filter((d) => d.kind === 'user');
    assert.equal(
      users.reduce((n, d) => n + d.eventCount, 0),
      accepted,
      'every accepted event is counted exactly once over the user profiles',
    );
    await w2.close();
    await w1.close();
    const rebuilt = await Portrait.open(config({ role: 'all', workerId: 'rebuild' }), { clock });
    cleanups.push(() => rebuilt.close());
    await rebuilt.rebuild();
    assert.deepEqual(comparableDump(await rebuilt.stateDump()), comparableDump(state), 'a rebuild from the log gives the same state');
  });

  it("a stale writer's commit fails with PORTRAIT_STALE_WRITER and writes nothing", async () => {
    const db = await tempDatabase();
    cleanups.push(() => db.drop());
    const store = await PostgresStore.open({ url: db.url });
    // Two copies of one log: the owner and the stale writer see the same records at the same positions.
    const ownerLog = new SqliteEventLog({ file: ':memory:', durability: 'normal' });
    const staleLog = new SqliteEventLog({ file: ':memory:', durability: 'normal' });
    cleanups.push(() => store.close(), () => ownerLog.close(), () => staleLog.close());
    const config = resolveConfig({ engine: { commitIntervalMs: 0 } });
    const clock = new ManualClock(T0);
    const engine = (log: SqliteEventLog) => {
      const definitions = new Definitions({ setOnce: new Set(), types: {} });
      return new Engine({ ...engineOptions(config, { log, store, definitions, clock, hashKey: Buffer.alloc(32, 1) }), partition: 0, fenced: true });
    };
    const stale = engine(staleLog);
    const owner = engine(ownerLog);
    await stale.start();
    await owner.start();
    const events = ['m1', 'm2', 'm3'].map((id) => {
      const r = parseMessage({ type: 'track', userId: 'u1', event: 'E', messageId: id }, { workspace: 'default', clock, receivedAt: T0 });
      return r.ok ? r.event : assert.fail('the event is valid');
    });
    await ownerLog.append(events);
    await owner.drain();
    assert.equal(await store.position(0), 3, 'the new owner committed up to position 3');
    const before = await store.dump();
    // The stale writer, still at position 0, now folds the same records and tries to commit them.
    await staleLog.append(events);
    await assert.rejects(stale.drain(), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER', 'its commit expecting position 0 fails');
    assert.deepEqual(await store.dump(), before, 'and writes nothing: the event is not counted twice');
    await stale.stop();
    await owner.stop();
  });

  it('identity across partitions: each profile keeps the identifiers of one partition, one worker writes it, and the state equals a rebuild', async () => {
    const config = await deployment(4);
    const clock = new ManualClock(T0);
    const node = await Portrait.open(config({ workerId: 'solo' }), { clock });
    cleanups.push(() => node.close());
    const P = 4;
    const pairs: Array<{ u: string; a: string; cross: boolean }> = [];
    for (let i = 0; pairs.filter((p) => p.cross).length < 20 || pairs.filter((p) => !p.cross).length < 20; i++) {
      const u = `user${i}`;
      const a = `anon${i}`;
      const cross = partitionOf('default', u, P) !== partitionOf('default', a, P);
      if (pairs.filter((p) => p.cross === cross).length < 20) pairs.push({ u, a, cross });
    }
    const msgs: unknown[] = [];
    let t = T0 - 86_400_000;
    for (const { u, a } of pairs) {
      msgs.push({ type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, timestamp: new Date((t += 1000)).toISOString() });
      msgs.push({ type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima' }, timestamp: new Date((t += 1000)).toISOString() });
      msgs.push({ type: 'track', userId: u, anonymousId: a, event: 'Order Completed', properties: { price: 10 }, timestamp: new Date((t += 1000)).toISOString() });
      msgs.push({ type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'games' }, timestamp: new Date((t += 1000)).toISOString() });
    }
    const accepted = await send(node, msgs);
    await node.drain();
    const state = await node.stateDump();
    for (const d of profilesOf(state)) {
      const homes = new Set(d.identifiers.map((i) => partitionOf(d.workspace, identValue(i), P)));
      assert.equal(homes.size, 1, `profile ${d.id} holds identifiers of one partition only: ${d.identifiers.join(', ')}`);
    }
    for (const { u, a, cross } of pairs) {
      const byUser = await node.profile('user_id', u);
      const byAnon = await node.profile('anonymous_id', a);
      if (!cross) {
        assert.equal(byUser?.id, byAnon?.id, `${u} and ${a} share a partition: one merged profile`);
        assert.equal(byUser?.eventCount, 4, `the merged profile of ${u} counts all four events`);
      } else {
        assert.notEqual(byUser?.id, byAnon?.id, `${u} and ${a} live in two partitions: two profiles`);
        assert.equal((byUser?.eventCount ?? 0) + (byAnon?.eventCount ?? 0), 4, `the events of ${u} and ${a} are counted once between their two profiles`);
      }
    }
    const conflicts = state.filter((l) => l.startsWith('identity_conflicts ') && l.includes('"other_partition"'));
    assert.equal(conflicts.length, 20, 'each cross-partition link is recorded once as an identity conflict');
    assert.equal(profilesOf(state).reduce((n, d) => n + d.eventCount, 0), accepted, 'every event is counted once');
    await node.rebuild();
    assert.deepEqual(comparableDump(await node.stateDump()), comparableDump(state), 'a rebuild from the log gives the same state');
  });
});

