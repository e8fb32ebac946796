import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { isPortraitError } from '../src/core/errors.ts';
import { resolveConfig } from '../src/config/index.ts';
import { Definitions } from '../src/engine/definitions.ts';
import { Engine } from '../src/engine/engine.ts';
import { engineOptions } from '../src/engine/options.ts';
import { Portrait } from '../src/index.ts';
import { partitionOf, SqliteEventLog } from '../src/log/index.ts';
import { loadPartitionDefinitions, overallDefinitions } from '../src/cluster/index.ts';
import { parseMessage } from '../src/ingest/index.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { assertOneOwner, clusterDeployment, comparableDump, profilesOf, waitFor } from './support/cluster.ts';
import { T0 } from './support/open.ts';
import { serviceSkip, tempDatabase } from './support/services.ts';
import { workload } from './support/workload.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const deployment = (partitions: number) => clusterDeployment(partitions, cleanups);

async function send(p: Portrait, all: readonly unknown[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < all.length; i += 500) accepted += (await p.ingest(all.slice(i, i + 500))).accepted;
  return accepted;
}

async function leasesOf(p: Portrait): Promise<number[]> {
  return p.cluster?.partitionsHeld() ?? [];
}

/** A deployment of four partitions: one API node and two workers, once each worker holds two partitions. */
async function apiAndTwoWorkers() {
  const config = await deployment(4);
  const clock = new ManualClock(T0);
  const api = await Portrait.open(config({ role: 'api' }), { clock });
  const w1 = await Portrait.open(config({ role: 'worker', workerId: 'w1' }), { clock });
  const w2 = await Portrait.open(config({ role: 'worker', workerId: 'w2' }), { clock });
  cleanups.push(() => api.close(), () => w1.close(), () => w2.close());
  await waitFor(async () => (await leasesOf(w1)).length === 2 && (await leasesOf(w2)).length === 2, 10_000, 'each worker holds two of the four partitions');
  return { config, clock, api, w1, w2 };
}

/** `n` valid track events "E" of five users, parsed as ingest would. */
function trackEvents(n: number, clock: ManualClock) {
  return Array.from({ length: n }, (_, i) => {
    const r = parseMessage({ type: 'track', userId: `u${i % 5}`, event: 'E', messageId: `m${i}` }, { workspace: 'default', clock, receivedAt: T0 });
    return r.ok ? r.event : assert.fail('the event is valid');
  });
}

/** A database of its own and two copies of one log: the owner and a stale writer see the same records at the same positions. */
async function ownerAndStaleWriter() {
  const db = await tempDatabase();
  cleanups.push(() => db.drop());
  const store = await PostgresStore.open({ url: db.url });
  const ownerLog = new SqliteEventLog({ file: ':memory:', durability: 'normal' });
  const staleLog = new SqliteEventLog({ file: ':memory:', durability: 'normal' });
  cleanups.push(() => store.close(), () => ownerLog.close(), () => staleLog.close());
  return { store, ownerLog, staleLog };
}

describe('partitioned workers on PostgreSQL and NATS JetStream', { skip }, () => {
  it('two workers split the partitions; when one stops renewing, the other takes its partitions over and continues from the committed position', async () => {
    const { config, clock, api, w1, w2 } = await apiAndTwoWorkers();
    assert.equal(api.cluster?.partitionsHeld().length, 0, 'an API node holds no partition');
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

  it('a trait defined over the API on a running deployment backfills in every partition, reads as backfilling until then, and equals a rebuild', async () => {
    const { config, clock, api, w1, w2 } = await apiAndTwoWorkers();
    const all = [...workload({ events: 4_000, users: 300, seed: 11, duplicateRate: 0.02, start: T0 - 3 * 86_400_000 })];
    await send(api, all.slice(0, 3_000));
    await api.drain();

    await api.putTrait({ name: 'viewed', kind: 'count', filter: { event: 'Product Viewed' } });
    const just = (await api.traitDefinitions()).find((d) => d.name === 'viewed');
    assert.equal(just?.status, 'backfilling', 'a new trait on a deployment holding data backfills');
    // Events keep coming while the workers switch to the new version and backfill.
    await send(api, all.slice(3_000));
    await waitFor(async () => (await api.traitDefinitions()).find((d) => d.name === 'viewed')?.status === 'live', 20_000, 'every partition finished its backfill');
    await api.drain();
    const store = await PostgresStore.open({ url: config().cluster!.databaseUrl! });
    cleanups.push(() => store.close());
    const progress = await store.partitionBackfills();
    assert.deepEqual(
      progress.filter((b) => b.name === 'viewed').map((b) => [b.partition, b.done]),
      [[0, true], [1, true], [2, true], [3, true]],
      'each partition backfilled its own log',
    );
    const views = all.filter((m) => (m as { event?: string }).event === 'Product Viewed').length;
    const profiles = (await w1.stateDump()).filter((l) => l.startsWith('profile '));
    const users = profilesOf(profiles).filter((d) => d.kind === 'user');
    const counted = users.reduce((n, d) => n + (d.traits.viewed === undefined ? 0 : (d.traits.viewed.s as number)), 0);
    assert.ok(counted > 0 && counted <= views, `views are counted once over the user profiles (${counted} of ${views} sent, duplicates dropped)`);

    await w1.close();
    await w2.close();
    const rebuilt = await Portrait.open(config({ role: 'all', workerId: 'rebuild' }), { clock });
    cleanups.push(() => rebuilt.close());
    await rebuilt.rebuild();
    const again = (await rebuilt.stateDump()).filter((l) => l.startsWith('profile '));
    assert.deepEqual(again, profiles, 'the profiles (with the backfilled trait) equal a rebuild from the log');
  });

  it("a stale writer's commit fails with PORTRAIT_STALE_WRITER and writes nothing", async () => {
    const { store, ownerLog, staleLog } = await ownerAndStaleWriter();
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

  it("a stale writer's trait backfill chunk fails with PORTRAIT_STALE_WRITER instead of counting the chunk twice", async () => {
    const { store, ownerLog, staleLog } = await ownerAndStaleWriter();
    const config = resolveConfig({ engine: { commitIntervalMs: 0, backfillChunk: 100 } });
    const clock = new ManualClock(T0);
    const events = trackEvents(500, clock);
    await ownerLog.append(events);
    await staleLog.append(events);
    const plain = () => new Definitions({ setOnce: new Set(), types: {} });
    const first = new Engine({ ...engineOptions(config, { log: ownerLog, store, definitions: plain(), clock, hashKey: Buffer.alloc(32, 1) }), partition: 0, partitions: 1, fenced: true });
    await first.start();
    await first.drain();
    await first.stop();
    // A trait made afterwards: both writers load it from the store and start the same backfill of positions 1..500.
    const defs = plain();
    defs.reconcile([{ name: 'n', kind: 'count', filter: { event: 'E' } }], 500, T0, 'api');
    await store.saveDefinitions(defs.list());
    const engine = async (log: SqliteEventLog) => {
      const definitions = await loadPartitionDefinitions(store, plain(), 0, 1);
      return new Engine({ ...engineOptions(config, { log, store, definitions, clock, hashKey: Buffer.alloc(32, 1) }), partition: 0, partitions: 1, fenced: true });
    };
    const stale = await engine(staleLog);
    const owner = await engine(ownerLog);
    await owner.start();
    await owner.drain();
    const total = async () => {
      const dump = await store.dump();
      return profilesOf(dump).reduce((n, d) => n + ((d.traits.n?.s as number | undefined) ?? 0), 0);
    };
    assert.equal(await total(), 500, 'the owner backfilled every event once');
    assert.equal((await store.definitions())[0]?.status, 'live', 'and the definition went live');
    await assert.rejects(stale.start().then(() => stale.drain()), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER', "the stale writer's first backfill chunk fails");
    assert.equal(await total(), 500, 'nothing is counted twice');
    await stale.stop();
    await owner.stop();
  });

  it('a trait made live on an empty deployment reads as backfilling, on every node, while a partition that committed events before it noticed the trait backfills it', async () => {
    const { store, ownerLog } = await ownerAndStaleWriter();
    const config = resolveConfig({ engine: { commitIntervalMs: 0, backfillChunk: 100 } });
    const clock = new ManualClock(T0);
    const events = trackEvents(300, clock);
    await ownerLog.append(events);
    const plain = () => new Definitions({ setOnce: new Set(), types: {} });
    const open = (definitions: Definitions) => new Engine({ ...engineOptions(config, { log: ownerLog, store, definitions, clock, hashKey: Buffer.alloc(32, 1) }), partition: 1, partitions: 2, fenced: true });
    // Partition 1 folds the events before it notices the trait.
    const before = open(plain());
    await before.start();
    await before.drain();
    await before.stop();
    // Made when nothing was committed as far as the API node knew: live at once.
    const defs = plain();
    defs.reconcile([{ name: 'n', kind: 'count', filter: { event: 'E' } }], 0, T0, 'api');
    await store.saveDefinitions(defs.list());
    const fingerprint = await store.definitionsFingerprint();
    assert.equal((await store.definitions())[0]?.status, 'live');
    // Partition 0 (nothing committed) meets it live; partition 1 must backfill it over what it folded.
    await loadPartitionDefinitions(store, plain(), 0, 2);
    const mine = await loadPartitionDefinitions(store, plain(), 1, 2);
    assert.equal(mine.get('n')?.status, 'backfilling', 'partition 1 backfills the trait');
    assert.equal((await store.definitions())[0]?.status, 'backfilling', 'the stored definition reads as backfilling again');
    const during = await store.definitionsFingerprint();
    assert.equal(during.versions, fingerprint.versions, 'the same version: no partition restarts for it');
    assert.notEqual(during.status, fingerprint.status, 'the status changed: every node reads its view again');
    assert.equal(overallDefinitions(await store.definitions(), await store.partitionBackfills())[0]?.status, 'backfilling', 'what API nodes show');
    const engine = open(mine);
    await engine.start();
    await engine.drain();
    await engine.stop();
    assert.equal((await store.definitions())[0]?.status, 'live', 'live once the backfill is done');
    const dump = await store.dump();
    assert.equal(profilesOf(dump).reduce((n, d) => n + ((d.traits.n?.s as number | undefined) ?? 0), 0), 300, 'every event counted once');
  });

  it('identity across partitions: identify links merge into one profile with one owner, as in the embedded mode, and the state equals a rebuild', async () => {
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
    for (const { u, a, cross } of pairs) {
      const byUser = await node.profile('user_id', u);
      const byAnon = await node.profile('anonymous_id', a);
      assert.ok(byUser !== undefined, `${u} has a profile`);
      assert.equal(byUser.id, byAnon?.id, `${u} and ${a} (${cross ? 'two partitions' : 'one partition'}) are one profile`);
      assert.equal(byUser.eventCount, 4, `the merged profile of ${u} counts all four events`);
      assert.deepEqual([byUser.identities.userIds, byUser.identities.anonymousIds], [[u], [a]], `it holds both identifiers`);
    }
    assertOneOwner(state);
    assert.equal(state.filter((l) => l.startsWith('identity_conflicts ')).length, 0, 'no link is refused');
    assert.equal(profilesOf(state).reduce((n, d) => n + d.eventCount, 0), accepted, 'every event is counted once');
    await node.rebuild();
    assert.deepEqual(comparableDump(await node.stateDump()), comparableDump(state), 'a rebuild from the log gives the same state');
  });
});

