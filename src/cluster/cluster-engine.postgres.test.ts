import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { resolveConfig } from '../config/index.ts';
import { Definitions } from '../engine/definitions.ts';
import { engineOptions } from '../engine/options.ts';
import { NatsEventLog } from '../log/index.ts';
import { PostgresStore } from '../storage/index.ts';
import { NATS_URL, serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { waitFor } from '../../test/support/cluster.ts';
import { ClusterEngine } from './cluster-engine.ts';
import { LeaseStore } from './lease-store.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A database and stream of their own, leases of `timeoutMs`, and a worker
 * (not started) on `partitions` partitions whose definitions load through
 * `load` (where a test makes taking a partition over slow).
 */
async function setup(partitions: number, timeoutMs: number, load: (partition: number) => Promise<void>) {
  const db = await tempDatabase();
  cleanups.push(() => db.drop());
  const store = await PostgresStore.open({ url: db.url });
  cleanups.push(() => store.close());
  const log = await NatsEventLog.open({ servers: NATS_URL, stream: `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`, partitions });
  cleanups.push(() => log.destroy());
  const leases = new LeaseStore(store.pool, timeoutMs);
  const config = resolveConfig({ engine: { commitIntervalMs: 0 } });
  const clock = new ManualClock(0);
  const worker = new ClusterEngine({
    log,
    store,
    leases,
    outbox: store,
    workerId: 'w',
    partitions,
    work: true,
    engineOptions: (_p, partitionLog, definitions) => engineOptions(config, { log: partitionLog, store, definitions, clock, hashKey: Buffer.alloc(32, 1) }),
    definitions: async (p) => {
      await load(p);
      return new Definitions({ setOnce: new Set(), types: {} });
    },
    definitionsFingerprint: async () => ({ versions: '', status: '' }),
  });
  cleanups.push(() => worker.stop());
  return { leases, worker };
}

describe('the lease rounds of a partitioned worker', { skip }, () => {
  it('keeps the leases it holds while one lease round takes several partitions over slowly', async () => {
    const timeoutMs = 600;
    // Taking 3, 4 or 5 over is slow (a loaded machine): one lease round taking all three lasts longer than the lease timeout.
    const { leases, worker } = await setup(6, timeoutMs, async (p) => {
      if (p >= 3) await pause(timeoutMs * 0.45);
    });
    // Another worker holds partitions 3, 4 and 5, then stops renewing (a crash).
    await leases.heartbeat('gone');
    for (const p of [3, 4, 5]) assert.ok((await leases.acquire(p, 'gone')) !== undefined, `the other worker holds ${p}`);
    await worker.start();
    assert.deepEqual(worker.partitionsHeld(), [0, 1, 2], 'with the other worker alive, the fair share is three partitions');
    const tokens = async () => new Map((await leases.list()).map((l) => [l.partition, [l.owner, l.token]]));
    const before = await tokens();

    await waitFor(() => worker.partitionsHeld().length === 6, 10_000, () => `the worker took 3, 4 and 5 over (it holds ${worker.partitionsHeld().join(', ')})`);
    const now = await tokens();
    assert.deepEqual([0, 1, 2].map((p) => now.get(p)), [0, 1, 2].map((p) => before.get(p)), 'partitions 0, 1 and 2 kept their leases throughout (same owner, same fencing token: never lapsed and taken again)');
    assert.deepEqual([3, 4, 5].map((p) => now.get(p)?.[0]), ['w', 'w', 'w'], 'and 3, 4 and 5 are leased to the worker');
    await pause(timeoutMs * 2);
    assert.deepEqual(worker.partitionsHeld(), [0, 1, 2, 3, 4, 5], 'it still holds every partition');
    assert.deepEqual(await tokens(), now, 'under the same leases');
  });
  it('keeps every lease while taking one partition over lasts longer than the lease timeout', async () => {
    const timeoutMs = 600;
    const loads: number[] = [];
    // Partition 2 loads for one and a half lease timeouts (a loaded machine, a large definition set).
    const { leases, worker } = await setup(4, timeoutMs, async (p) => {
      loads.push(p);
      if (p === 2) await pause(timeoutMs * 1.5);
    });
    const first = new Map<number, number>();
    const watch = setInterval(() => void leases.list().then((ls) => ls.forEach((l) => first.has(l.partition) || first.set(l.partition, l.token))), 20);
    try {
      await worker.start();
    } finally {
      clearInterval(watch);
    }
    // The last partition taken may have been leased after the watcher's last look.
    for (const l of await leases.list()) if (!first.has(l.partition)) first.set(l.partition, l.token);
    assert.deepEqual(worker.partitionsHeld(), [0, 1, 2, 3], 'the first round took every partition');
    await pause(timeoutMs * 2);
    assert.deepEqual(worker.partitionsHeld(), [0, 1, 2, 3], 'and it still holds them');
    const now = await leases.list();
    assert.ok(now.every((l) => l.owner === 'w' && first.get(l.partition) === l.token), `no lease lapsed and was taken again (first tokens ${JSON.stringify([...first])}, now ${JSON.stringify(now.map((l) => [l.partition, l.token]))})`);
    assert.deepEqual(loads.sort(), [0, 1, 2, 3], 'each partition was taken over once');
  });
});
