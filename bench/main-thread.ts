/**
 * The main thread's CPU per HTTP ingest batch and per profile read, through
 * Fastify's inject (no sockets), on a file-backed instance with the
 * benchmark's traits: what a request costs the thread that answers HTTP,
 * read from the Linux scheduler's statistics (/proc/thread-self/schedstat).
 *   node --import tsx bench/main-thread.ts [--gzip]   (--gzip: gzip bodies, as most SDKs send;
 *   add --cpu-prof before --import for a profile)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { TEN_TRAITS, workload } from '../src/demo/workload.ts';

const USERS = 20_000;
const BATCHES = 400;
const IN_FLIGHT = 8;
const GZIP = process.argv.includes('--gzip');

/** This thread's time on a core (ms). */
const cpu = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;

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
  let next = 100;
  let t0 = cpu();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < bodies.length) await post(bodies[next++]!);
  }));
  const perBatch = (cpu() - t0) / BATCHES;
  await p.drain();
  t0 = cpu();
  const reads = 2000;
  for (let i = 0; i < reads; i++) await app.inject({ url: `/v1/profiles/user_id/u${(i * 31) % USERS}`, headers: { authorization: `Bearer ${read}` } });
  const perRead = (cpu() - t0) / reads;
  process.stdout.write(`main thread CPU: ${perBatch.toFixed(2)} ms per ingest batch of 100 (${IN_FLIGHT} in flight${GZIP ? ', gzip' : ''}), ${perRead.toFixed(3)} ms per profile read\n`);
  await app.close();
} finally {
  await p.close();
  rmSync(dir, { recursive: true, force: true });
}
