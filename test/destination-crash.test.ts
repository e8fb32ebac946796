import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Destinations, SqliteDestinationStore } from '../src/destinations/index.ts';
import { SqliteStore } from '../src/storage/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { startReceiver } from './support/receiver.ts';

const CHILD = join(import.meta.dirname, 'support', 'delivery-crash-child.ts');

describe('webhook delivery across a crash', () => {
  it('a process killed after creating deliveries and mid-send loses none, invents none, and resends with the same idempotency id', async () => {
    const { dir, cleanup } = tempDir('portrait-dest-crash-');
    let killChild: (() => void) | undefined;
    let sawFirst!: () => void;
    const firstArrived = new Promise<void>((r) => (sawFirst = r));
    // The first request is held unanswered and the child killed while it waits.
    const receiver = await startReceiver((r) => {
      if (r.nth === 1 && r.deliveryId === 'hook:1') {
        sawFirst();
        return 'hang';
      }
      return 200;
    }, 60_000);
    const file = join(dir, 'state.db');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, `${receiver.url}/hook`, String(T0)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<string | null>((r) => child.on('exit', (_code, signal) => r(signal)));
      killChild = () => child.kill('SIGKILL');
      await Promise.race([firstArrived, exited.then(() => assert.fail(`the child exited before sending: ${err}`))]);
      killChild();
      assert.equal(await exited, 'SIGKILL', 'killed mid-send');
      assert.match(out, /dispatched 5/, 'five deliveries were committed before the kill');
      assert.doesNotMatch(out, /sent/, 'the child did not finish sending');

      // Restart on the same database, later than the claim's lease.
      const store = new SqliteStore({ file });
      const clock = new ManualClock(T0 + 60_000);
      const delivery = { maxAttempts: 5, backoffBaseMs: 1000, backoffCapMs: 60_000, timeoutMs: 5000, concurrency: 2, batchSize: 2, idleMs: 1000 };
      const d = await Destinations.open({ store: new SqliteDestinationStore(store.db), clock, delivery, configured: [], defaultWorkspace: 'w' });
      const before = (await d.deliveries('w', 'hook')).items;
      assert.deepEqual(before.map((x) => x.status), ['pending', 'pending', 'pending', 'pending', 'pending'], 'all five survived, none delivered');
      assert.equal(await d.worker.dispatch(), 0, 'restarting creates no second delivery of anything');
      const pass = await d.worker.runOnce();
      assert.equal(pass.attempts, 5, 'each sent once after the restart');
      const successes = receiver.successes();
      assert.deepEqual([...successes.keys()].sort(), ['hook:1', 'hook:2', 'hook:3', 'hook:4', 'hook:5'], 'every notification arrived');
      for (const [id, n] of successes) assert.equal(n, 1, `${id} answered 2xx exactly once`);
      const first = receiver.received.filter((r) => r.deliveryId === 'hook:1');
      assert.equal(first.length, 2, 'the interrupted one was sent again (at least once)');
      assert.equal(first[0]!.body, first[1]!.body, 'with the same body and idempotency id');
      assert.deepEqual((await d.deliveries('w', 'hook', { status: 'delivered' })).items.length, 5, 'all delivered');
      await store.close();
    } finally {
      killChild?.();
      await receiver.close();
      cleanup();
    }
  });
});
