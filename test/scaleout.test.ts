import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { NatsEventLog } from '../src/log/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { NATS_URL, serviceSkip, tempDatabase } from './support/services.ts';
import { TEN_TRAITS, workload } from './support/workload.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

async function run(p: Portrait, all: unknown[]): Promise<string[]> {
  for (let i = 0; i < all.length; i += 500) await p.ingest(all.slice(i, i + 500));
  await p.drain();
  return p.stateDump();
}

describe('Portrait on PostgreSQL and NATS JetStream', { skip }, () => {
  it('with one partition, gives the same state as the embedded mode for the same events, and a rebuild equals it', async () => {
    const all = [...workload({ events: 4_000, users: 400, seed: 5, duplicateRate: 0.02, start: T0 - 5 * 86_400_000 })];
    const base = { traits: [...TEN_TRAITS], identity: { hashKey: 'ab'.repeat(32) }, durability: 'normal' as const };
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    const stream = `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`;
    try {
      const embedded = await Portrait.open({ ...base, dataDir: `${dir}/embedded` }, { clock: new ManualClock(T0) });
      const expected = await run(embedded, all).finally(() => embedded.close());
      const p = await Portrait.open({ ...base, dataDir: `${dir}/cluster`, cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions: 1 } }, { clock: new ManualClock(T0) });
      try {
        const got = await run(p, all);
        assert.ok(got.filter((l) => l.startsWith('merges ')).length > 0, 'the workload merges profiles');
        assert.equal(got.length, expected.length, 'as many state lines as the embedded mode');
        for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) assert.equal(got[i], expected[i], `line ${i} differs from the embedded mode`);
        await p.rebuild();
        assert.deepEqual(await p.stateDump(), got, 'a rebuild from the NATS log into PostgreSQL equals the incremental state');
      } finally {
        await p.close();
      }
    } finally {
      const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 1 });
      await admin.destroy();
      await db.drop();
      cleanup();
    }
  });
});
