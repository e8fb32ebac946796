/**
 * The main thread's CPU per HTTP ingest batch and per profile read, through
 * Fastify's inject (no sockets), on a file-backed instance with the
 * benchmark's traits: what a request costs the thread that answers HTTP,
 * read from the Linux scheduler's statistics (/proc/thread-self/schedstat).
 * Beside it, the event log's writer thread's CPU per batch (it shares the cores).
 *   node --import tsx bench/main-thread.ts [--gzip] [--profile <dir>]
 *   (--gzip: gzip bodies, as most SDKs send; --profile: the main thread's CPU
 *   profiles of the measured phases alone, as <dir>/ingest.cpuprofile and
 *   <dir>/read.cpuprofile, for Chrome DevTools or any .cpuprofile reader)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { TEN_TRAITS, workload } from '../src/demo/workload.ts';
import { cpu, threadNamed } from './threads.ts';

const USERS = 20_000;
const BATCHES = 400;
const IN_FLIGHT = 8;
const GZIP = process.argv.includes('--gzip');
const PROFILE = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined;


/** Runs `f`, and with --profile writes the main thread's CPU profile of it to <dir>/<name>.cpuprofile. */
async function profiled(name: string, f: () => Promise<void>): Promise<void> {
  if (PROFILE === undefined) return f();
  mkdirSync(PROFILE, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    await f();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(PROFILE, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'portrait-main-thread-'));
const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS] });
try {
  const read = (await p.keys.create('default', ['read'])).key;
  const write = (await p.keys.create('default', ['write'])).key;
  for (let i = 0; i < USERS; i += 1000) {
    await p.ingest(Array.from({ length: Math.min(1000, USERS - i) }, (_, k) => ({ type: 'identify', userId: `u${i + k}`, messageId: `seed-${i + k}`, traits: { plan: 'free' } })));
  }
  await p.drain();
  const messages = [...workload({ events: (BATCHES + 100) * 100, users: USERS, seed: 77, start: Date.now() - 30 * 86_400_000 })];
  const bodies: Array<string | Buffer> = [];
  for (let i = 0; i < messages.length; i += 100) {
    const json = JSON.stringify({ batch: messages.slice(i, i + 100) });
    bodies.push(GZIP ? gzipSync(json) : json);
  }
  const app = buildServer(p, { maxLag: 1_000_000 });
  await app.ready();
  const headers = { authorization: `Basic ${Buffer.from(`${write}:`).toString('base64')}`, 'content-type': 'application/json', ...(GZIP ? { 'content-encoding': 'gzip' } : {}) };
  const post = async (body: string | Buffer) => {
    const r = await app.inject({ method: 'POST', url: '/v1/batch', payload: body, headers });
    if (r.statusCode !== 200) throw new Error(`ingest answered ${r.statusCode}: ${r.body}`);
  };
  for (const b of bodies.slice(0, 100)) await post(b); // warm-up
  const writer = threadNamed('writer-thread');
  let next = 100;
  let t0 = cpu();
  const w0 = cpu(writer);
  await profiled('ingest', async () => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < bodies.length) await post(bodies[next++]!);
    }));
  });
  const perBatch = (cpu() - t0) / BATCHES;
  const writerPerBatch = (cpu(writer) - w0) / BATCHES;
  await p.drain();
  t0 = cpu();
  const reads = 2000;
  await profiled('read', async () => {
    for (let i = 0; i < reads; i++) await app.inject({ url: `/v1/profiles/user_id/u${(i * 31) % USERS}`, headers: { authorization: `Bearer ${read}` } });
  });
  const perRead = (cpu() - t0) / reads;
  process.stdout.write(
    `main thread CPU: ${perBatch.toFixed(2)} ms per ingest batch of 100 (${IN_FLIGHT} in flight${GZIP ? ', gzip' : ''}), ${perRead.toFixed(3)} ms per profile read; ` +
      `log writer thread CPU: ${writerPerBatch.toFixed(2)} ms per batch${PROFILE === undefined ? '' : ' (profiled: the profiler adds to both)'}\n`,
  );
  await app.close();
} finally {
  await p.close();
  rmSync(dir, { recursive: true, force: true });
}
