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

describe('the lease rounds of a partitioned worker', { skip }, () => {
  it('keeps the leases it holds while one lease round takes several partitions over slowly', async () => {
    const db = await tempDatabase();
    cleanups.push(() => db.drop());
    const store = await PostgresStore.open({ url: db.url });
    cleanups.push(() => store.close());
    const log = await NatsEventLog.open({ servers: NATS_URL, stream: `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`, partitions: 6 });
    cleanups.push(() => log.destroy());
    const timeoutMs = 600;
    const leases = new LeaseStore(store.pool, timeoutMs);
    // Another worker holds partitions 3, 4 and 5, then stops renewing (a crash).
    await leases.heartbeat('gone');
    for (const p of [3, 4, 5]) assert.ok((await leases.acquire(p, 'gone')) !== undefined, `the other worker holds ${p}`);

    const config = resolveConfig({ engine: { commitIntervalMs: 0 } });
    const clock = new ManualClock(0);
    const plain = () => new Definitions({ setOnce: new Set(), types: {} });
    const worker = new ClusterEngine({
      log,
      store,
      leases,
      outbox: store,
      workerId: 'w',
      partitions: 6,
      work: true,
      engineOptions: (_p, partitionLog, definitions) => engineOptions(config, { log: partitionLog, store, definitions, clock, hashKey: Buffer.alloc(32, 1) }),
      // Taking 3, 4 or 5 over is slow (a loaded machine): one lease round taking all three lasts longer than the lease timeout.
      definitions: async (p) => {
        if (p >= 3) await pause(timeoutMs * 0.45);
        return plain();
      },
      definitionsFingerprint: async () => ({ versions: '', status: '' }),
    });
    cleanups.push(() => worker.stop());
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
});
