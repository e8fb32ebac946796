import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Portrait } from '../src/index.ts';
import { rng, TEN_TRAITS, workload } from './support/workload.ts';
import { tempDir } from './support/open.ts';

const CHILD = join(import.meta.dirname, 'support', 'crash-child.ts');

function run(dir: string, from: number, to: number, killAfterMs: number | undefined): Promise<{ acked: number; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(from), String(to), '200', killAfterMs === undefined ? 'drain' : ''], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = from;
    let buf = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) acked = Math.max(acked, Number(line.slice(4)));
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ acked, killed: true });
      else if (code === 0) resolve({ acked, killed: false });
      else reject(new Error(`child failed (${code}): ${err}`));
    });
  });
}

describe('crash safety', () => {
  it('SIGKILL at random moments during ingest, 20 times: every acknowledged event counted exactly once, state equals a rebuild', async () => {
    const { dir, cleanup } = tempDir('portrait-crash-');
    const total = 120_000;
    const r = rng(99);
    try {
      let acked = 0;
      let kills = 0;
      let runs = 0;
      while (kills < 20 && runs++ < 60) {
        // Kill between 0.9 s (start-up) and 2.4 s (deep in ingest and engine commits). Once all is
        // acknowledged, the remaining kills land while the engine catches up.
        const res = await run(dir, acked, total, 900 + Math.floor(r() * 1500));
        acked = res.acked;
        if (res.killed) kills++;
      }
      // Finish the workload and let the engine catch up.
      const fin = await run(dir, acked, total, undefined);
      assert.equal(fin.acked, total);

      // Every distinct message of the workload is in the log exactly once.
      const messages = [...workload({ events: total, users: 2000, seed: 11, duplicateRate: 0.02 })];
      const distinct = new Set(messages.map((m) => m.messageId as string));
      const logDb = new Database(join(dir, 'log.db'), { readonly: true });
      const rows = logDb.prepare('SELECT message_id, COUNT(*) AS n FROM log GROUP BY message_id').all() as { message_id: string; n: number }[];
      logDb.close();
      assert.equal(rows.length, distinct.size);
      assert.ok(rows.every((row) => row.n === 1 && distinct.has(row.message_id)), 'rows.every((row) => row.n === 1 && distinct.has(row.message_id))');

      const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS], identity: { hashKey: 'cd'.repeat(32) } });
      try {
        await p.drain();
        // Each event is counted once: user profiles' event counts add up to the log.
        const stateDb = new Database(join(dir, 'state.db'), { readonly: true });
        const docs = stateDb.prepare('SELECT doc FROM profiles').all() as { doc: string }[];
        stateDb.close();
        const counted = docs.map((d) => JSON.parse(d.doc) as { kind: string; eventCount: number }).filter((d) => d.kind === 'user').reduce((s, d) => s + d.eventCount, 0);
        assert.equal(counted, distinct.size);
        const incremental = await p.stateDump();
        await p.rebuild();
        const rebuilt = await p.stateDump();
        assert.deepEqual(rebuilt, incremental);
      } finally {
        await p.close();
      }
      assert.ok(kills >= 20, `killed ${kills} times`);
    } finally {
      cleanup();
    }
  });
});
