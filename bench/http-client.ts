/**
 * The HTTP benchmark's load generator, run as a second process: it posts
 * batches of 100 Segment messages with several requests in flight, and
 * meanwhile reads profiles one at a time, timing each read. Prints one JSON
 * line with the results.
 */
import { workload } from '../src/demo/workload.ts';

const [url, writeKey, secretKey, eventsArg, usersArg] = process.argv.slice(2);
const EVENTS = Number(eventsArg);
const USERS = Number(usersArg);
const BATCH = 100;
const IN_FLIGHT = 8;

const messages = [...workload({ events: EVENTS, users: USERS, seed: 77, start: Date.now() - 30 * 86_400_000 })];
const bodies: string[] = [];
for (let i = 0; i < messages.length; i += BATCH) bodies.push(JSON.stringify({ batch: messages.slice(i, i + BATCH) }));
const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

let next = 0;
let retries = 0;
let ingesting = true;
async function sender(): Promise<void> {
  while (next < bodies.length) {
    const body = bodies[next++]!;
    for (;;) {
      const r = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body });
      await r.arrayBuffer();
      if (r.status === 200) break;
      if (r.status !== 429) throw new Error(`ingest answered ${r.status}`);
      retries++;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

const latencies: number[] = [];
async function reader(): Promise<void> {
  let i = 0;
  while (ingesting) {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/profiles/user_id/u${i++ % USERS}`, { headers: { authorization: `Bearer ${secretKey}` } });
    await r.arrayBuffer();
    latencies.push(performance.now() - t0);
  }
}

const t0 = performance.now();
const reading = reader();
await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
const seconds = (performance.now() - t0) / 1000;
ingesting = false;
await reading;
latencies.sort((a, b) => a - b);
const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ eventsPerSec: EVENTS / seconds, reads: latencies.length, p50: q(0.5), p99: q(0.99), retries })}\n`);
