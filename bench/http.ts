/**
 * HTTP ingest and read latency: a server on 127.0.0.1 in this process (its
 * engine in a worker thread), a load generator in a second process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { TEN_TRAITS } from '../src/demo/workload.ts';

export interface HttpResult {
  eventsPerSec: number;
  reads: number;
  p50: number;
  p99: number;
  retries: number;
}

export async function httpBench(dir: string, events: number, users: number): Promise<HttpResult> {
  const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS] });
  const write = (await p.keys.create('default', ['write'])).key;
  const secret = (await p.keys.create('default', ['read'])).key;
  const app = buildServer(p, { maxLag: 1_000_000 });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'http-client.ts'), url, write, secret, String(events), String(users)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    if (code !== 0) throw new Error(`the load generator failed (${code})`);
    await p.drain();
    return JSON.parse(out.trim().split('\n').pop()!) as HttpResult;
  } finally {
    await app.close();
    await p.close();
  }
}
