/**
 * Crash-test child for webhook delivery: creates a destination, writes five
 * notifications to the outbox, turns them into deliveries (printing
 * `dispatched`), then starts sending one at a time. The parent kills it with
 * SIGKILL while the first request is in flight.
 */
import { ManualClock } from '../../src/core/clock.ts';
import { Destinations, SqliteDestinationStore } from '../../src/destinations/index.ts';
import { SqliteStore } from '../../src/storage/index.ts';

const [file, url, t0] = process.argv.slice(2);
const clock = new ManualClock(Number(t0));
const store = new SqliteStore({ file: file! });
const d = await Destinations.open({
  store: new SqliteDestinationStore(store.db),
  clock,
  delivery: { maxAttempts: 5, backoffBaseMs: 1000, backoffCapMs: 60_000, timeoutMs: 30_000, concurrency: 1, batchSize: 2, idleMs: 1000 },
  configured: [],
  defaultWorkspace: 'w',
});
await d.create('w', { id: 'hook', url: url!, secret: 'whsec_crash_0123456789', kinds: ['segment.entered'] });
await d.store.appendOutbox(
  [1, 2, 3, 4, 5].map((i) => ({ workspace: 'w', kind: 'segment.entered', profileId: `p${i}`, payload: JSON.stringify({ segment: 'vip', time: clock.now() }), position: i, createdAt: clock.now() })),
);
const created = await d.worker.dispatch();
process.stdout.write(`dispatched ${created}\n`);
await d.worker.send();
process.stdout.write('sent\n');
