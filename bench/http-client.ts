/**
 * The HTTP benchmark's load generators, each run as its own process so that
 * neither one's event loop delays the other's timings:
 *   ingest <url> <writeKey> <events> <users>: posts batches of 100 Segment
 *     messages, 8 requests in flight; prints "started" when it begins, then
 *     {eventsPerSec, retries, cpuMs}.
 *   read <url> <secretKey> <users>: reads profiles one at a time until it
 *     receives SIGTERM (or stdin closes), timing each read; prints
 *     {reads, p50, p99, statuses, cpuMs} (cpuMs: the process's CPU time; statuses: answers counted by HTTP status,
 *     so that 404s of profiles not made yet and 429s of the rate limit show).
 */
import { Agent, request } from 'node:http';
import { workload } from '../src/demo/workload.ts';

const BATCH = 100;

/**
 * One request over a kept-alive connection with node:http: its status, once the
 * answer is read. (fetch costs these processes about 1 ms of CPU a request, and
 * they share the cores with the server they measure.)
 */
function send(agent: Agent, url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** This process's CPU time so far (ms): the load generators share the cores with the server. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const IN_FLIGHT = 8;
const [mode, ...args] = process.argv.slice(2);

async function ingest(url: string, writeKey: string, events: number, users: number): Promise<void> {
  const messages = [...workload({ events, users, seed: 77, start: Date.now() - 30 * 86_400_000 })];
  const bodies: string[] = [];
  for (let i = 0; i < messages.length; i += BATCH) bodies.push(JSON.stringify({ batch: messages.slice(i, i + BATCH) }));
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  let next = 0;
  let retries = 0;
  async function sender(): Promise<void> {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      for (;;) {
        const status = await send(agent, `${url}/v1/batch`, 'POST', { authorization: auth, 'content-type': 'application/json' }, body);
        if (status === 200) break;
        if (status !== 429) throw new Error(`ingest answered ${status}`);
        retries++;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  }
  process.stdout.write('started\n');
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ eventsPerSec: events / seconds, retries, cpuMs: cpuMs() })}\n`);
}

async function read(url: string, secretKey: string, users: number): Promise<void> {
  let running = true;
  const stop = () => (running = false);
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { authorization: `Bearer ${secretKey}` };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let i = 0;
  while (running) {
    const t0 = performance.now();
    const status = await send(agent, `${url}/v1/profiles/user_id/u${i++ % users}`, 'GET', headers);
    latencies.push(performance.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  latencies.sort((a, b) => a - b);
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? NaN;
  process.stdout.write(`${JSON.stringify({ reads: latencies.length, p50: q(0.5), p99: q(0.99), statuses, cpuMs: cpuMs() })}\n`);
}

if (mode === 'ingest') await ingest(args[0]!, args[1]!, Number(args[2]), Number(args[3]));
else if (mode === 'read') await read(args[0]!, args[1]!, Number(args[2]));
else throw new Error(`unknown mode ${String(mode)}: use ingest or read`);
