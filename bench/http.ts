/**
 * HTTP ingest and read latency: a server on 127.0.0.1 in this process (its
 * engine in a worker thread), a load generator in a second process.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { TEN_TRAITS } from '../src/demo/workload.ts';

export interface HttpResult {
  eventsPerSec: number;
  reads: number;
  p50: number;
  p99: number;
  /** Reads by HTTP status (200 found, 404 not made yet, 429 rate-limited). */
  statuses: Record<string, number>;
  retries: number;
  /** The server's main thread during the timed run: event-loop delay p99 and longest (ms). */
  loopDelayP99: number;
  loopDelayMax: number;
  /** A read's time inside the server (request received → answer sent), p50 / p99 (ms). */
  serverReadP50: number;
  serverReadP99: number;
  /** The server's main thread during the timed run: time on a core, and time runnable but waiting for one (ms; NaN off Linux). */
  mainRanMs: number;
  mainWaitedMs: number;
  /** CPU time of the load generators' processes (ms), loading their code included. */
  senderCpuMs: number;
  readerCpuMs: number;
}

/** This thread's time on a core and time waiting for one, from the Linux scheduler's statistics (ms). */
function threadTimes(): { ran: number; waited: number } {
  try {
    const [ran, waited] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    return { ran: ran! / 1e6, waited: waited! / 1e6 };
  } catch {
    return { ran: NaN, waited: NaN };
  }
}

/** "200 ×1234, 404 ×56": the reads by status, for the report. */
export function statusSummary(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .map(([s, n]) => `${s} ×${n}`)
    .join(', ');
}

export async function httpBench(dir: string, events: number, users: number): Promise<HttpResult> {
  const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS] });
  const write = (await p.keys.create('default', ['write'])).key;
  const secret = (await p.keys.create('default', ['read'])).key;
  // An existing user base, before the timed run: the reads during ingest then find profiles
  // (a read of a user the engine has not made yet is a cheap 404 and measures little).
  for (let i = 0; i < users; i += 1000) {
    await p.ingest(Array.from({ length: Math.min(1000, users - i) }, (_, k) => ({ type: 'identify', userId: `u${i + k}`, messageId: `seed-${i + k}`, traits: { plan: 'free' } })));
  }
  await p.drain();
  const app = buildServer(p, { maxLag: 1_000_000 });
  const serverReads: number[] = [];
  const began = new WeakMap<object, number>();
  app.addHook('onRequest', async (req) => void (req.method === 'GET' && began.set(req, performance.now())));
  app.addHook('onResponse', async (req) => {
    const t = began.get(req);
    if (t !== undefined) serverReads.push(performance.now() - t);
  });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    // Reads come from their own process, so the senders' event loop does not delay their timing.
    const run = (args: string[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'http-client.ts'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<unknown>((res, rej) =>
        child.on('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!)) : rej(new Error(`the load generator (${args[0]}) failed (${code})`)))),
      );
      return { child, done };
    };
    // The reader starts once the senders do, and stops when they finish: every read is timed during ingest.
    const sender = run(['ingest', url, write, String(events), String(users)]);
    const reader = await new Promise<ReturnType<typeof run>>((resolve) => {
      const onData = (d: Buffer) => {
        if (!d.toString().includes('started')) return;
        sender.child.stdout.off('data', onData);
        resolve(run(['read', url, secret, String(users)]));
      };
      sender.child.stdout.on('data', onData);
    });
    loop.enable();
    const cpu0 = threadTimes();
    const { cpuMs: senderCpuMs, ...ingest } = (await sender.done) as { eventsPerSec: number; retries: number; cpuMs: number };
    reader.child.stdin.end();
    const { cpuMs: readerCpuMs, ...reads } = (await reader.done) as { reads: number; p50: number; p99: number; statuses: Record<string, number>; cpuMs: number };
    loop.disable();
    const cpu = threadTimes();
    await p.drain();
    serverReads.sort((a, b) => a - b);
    const q = (f: number) => serverReads[Math.min(serverReads.length - 1, Math.floor(f * serverReads.length))] ?? NaN;
    return { ...ingest, ...reads, loopDelayP99: loop.percentile(99) / 1e6, loopDelayMax: loop.max / 1e6, serverReadP50: q(0.5), serverReadP99: q(0.99), mainRanMs: cpu.ran - cpu0.ran, mainWaitedMs: cpu.waited - cpu0.waited, senderCpuMs, readerCpuMs };
  } finally {
    await app.close();
    await p.close();
  }
}
