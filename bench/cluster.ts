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
import { ingestAll } from './stages.ts';

const BIN = new URL('../bin/portrait.js', import.meta.url).pathname;

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

interface Deployment {
  configFile: string;
  api: Portrait;
  dispose: () => Promise<void>;
}

/** A fresh database on `stream` (a fresh stream when absent), with an API-only node in this process. */
async function deploy(dir: string, name: string, partitions: number, stream?: string, segments: readonly unknown[] = []): Promise<Deployment & { stream: string }> {
  const db = await tempDatabase();
  const own = stream === undefined;
  const s = stream ?? `PORTRAIT_BENCH_${randomBytes(6).toString('hex')}`;
  const config = {
    dataDir: dir,
    traits: [...TEN_TRAITS],
    segments: [...segments],
    identity: { hashKey: 'ab'.repeat(32) },
    privacy: { masterKeys: `k1:${'cd'.repeat(32)}` },
    cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream: s, partitions, leaseTimeoutMs: 5000 },
  };
  const configFile = join(dir, `bench-${name}.config.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const api = await Portrait.open({ ...config, cluster: { ...config.cluster, role: 'api' } });
  return {
    configFile,
    api,
    stream: s,
    dispose: async () => {
      await api.close();
      if (own) {
        const admin = await NatsEventLog.open({ servers: NATS_URL, stream: s, partitions });
        await admin.destroy();
      }
      await db.drop();
    },
  };
}

async function withWorkers<T>(d: Deployment, workers: number, run: () => Promise<T>): Promise<T> {
  const children: ChildProcess[] = [];
  try {
    // Started together, so a second worker's start does not add to the time.
    const started = Array.from({ length: workers }, (_, w) => startWorker(d.configFile, `bench-w${w}`));
    for (const c of await Promise.allSettled(started)) if (c.status === 'fulfilled') children.push(c.value);
    for (const c of await Promise.allSettled(started)) if (c.status === 'rejected') throw c.reason;
    return await run();
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  }
}


export interface ClusterResult {
  /** Full pipeline: ingest through an API node while the workers fold, until every partition committed. */
  fullEps: number;
  /** Ingest alone (the API node's appends to NATS) during that run. */
  ingestEps: number;
  /** The workers alone: catching up on the same log, already in NATS, into an empty database (their process start included). */
  catchUpEps: number;
}

/**
 * Runs the pipeline with `workers` worker processes; the catch-up run reuses
 * the log of the full run. With `segments`, the partition engines evaluate
 * them live (the definitions exist before the first event).
 */
export async function clusterBench(input: readonly string[], dir: string, workers: number, partitions: number, segments: readonly unknown[] = []): Promise<ClusterResult> {
  const name = `${workers}${segments.length > 0 ? '-segments' : ''}`;
  const d = await deploy(dir, `full-${name}`, partitions, undefined, segments);
  try {
    const { fullEps, ingestEps } = await withWorkers(d, workers, async () => {
      const t0 = performance.now();
      await ingestAll(d.api, input);
      const ingestEps = input.length / ((performance.now() - t0) / 1000);
      await d.api.drain();
      return { fullEps: input.length / ((performance.now() - t0) / 1000), ingestEps };
    });
    const c = await deploy(dir, `catchup-${name}`, partitions, d.stream, segments);
    try {
      // Timed from before the workers start: a worker folds as soon as it holds partitions, before it
      // reports itself ready, so its start is part of the catch-up (a conservative figure).
      const t0 = performance.now();
      const catchUpEps = await withWorkers(c, workers, async () => {
        await c.api.drain();
        return input.length / ((performance.now() - t0) / 1000);
      });
      return { fullEps, ingestEps, catchUpEps };
    } finally {
      await c.dispose();
    }
  } finally {
    await d.dispose();
  }
}
