/**
 * `npm run bench -- --backend postgres`: the full pipeline on PostgreSQL and
 * NATS JetStream. This process ingests (an API-only node, batches of 1,000)
 * while N worker processes (`portrait serve --role worker`) lease the
 * partitions and fold; the clock stops when every partition has committed
 * everything. Each run gets a fresh database and stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Portrait } from '../src/index.ts';
import { NatsEventLog } from '../src/log/index.ts';
import { NATS_URL, tempDatabase } from '../test/support/services.ts';
import { TEN_TRAITS } from '../test/support/workload.ts';

const BIN = new URL('../bin/portrait.js', import.meta.url).pathname;
const BATCH = 1000;

function startWorker(configFile: string, id: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--role', 'worker', '--config', configFile], {
    env: { ...process.env, PORTRAIT_WORKER_ID: id },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Portrait worker')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker ${id} exited with ${code}: ${err}`)));
  });
}

/** Events per second through ingest and `workers` worker processes over `partitions` partitions. */
export async function clusterBench(input: readonly string[], dir: string, workers: number, partitions: number): Promise<{ eps: number; ingestEps: number }> {
  const db = await tempDatabase();
  const stream = `PORTRAIT_BENCH_${randomBytes(6).toString('hex')}`;
  const config = {
    dataDir: dir,
    traits: [...TEN_TRAITS],
    identity: { hashKey: 'ab'.repeat(32) },
    privacy: { masterKeys: `k1:${'cd'.repeat(32)}` },
    cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions, leaseTimeoutMs: 5000 },
  };
  const configFile = join(dir, `bench-${workers}.config.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const api = await Portrait.open({ ...config, cluster: { ...config.cluster, role: 'api' } });
  const children: ChildProcess[] = [];
  try {
    for (let w = 0; w < workers; w++) children.push(await startWorker(configFile, `bench-w${w}`));
    const t0 = performance.now();
    for (let i = 0; i < input.length; i += BATCH) {
      const batch: unknown[] = [];
      for (let j = i; j < Math.min(i + BATCH, input.length); j++) batch.push(JSON.parse(input[j]!));
      await api.ingest(batch);
    }
    const ingestEps = input.length / ((performance.now() - t0) / 1000);
    await api.drain();
    return { eps: input.length / ((performance.now() - t0) / 1000), ingestEps };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await api.close();
    const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions });
    await admin.destroy();
    await db.drop();
  }
}
