/**
 * `rebuild()` on a running deployment of partitioned workers: the rebuilding
 * node fences the others out, holds every partition while it replays the
 * log, then lifts the fence and the others take their partitions back.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { LeaseStore } from '../src/cluster/index.ts';
import { ManualClock } from '../src/core/clock.ts';
import { isPortraitError } from '../src/core/errors.ts';
import { resolveConfig } from '../src/config/index.ts';
import { Definitions } from '../src/engine/definitions.ts';
import { Engine } from '../src/engine/engine.ts';
import { engineOptions } from '../src/engine/options.ts';
import { parseMessage } from '../src/ingest/index.ts';
import { Portrait } from '../src/index.ts';
import { partitionOf, SqliteEventLog } from '../src/log/index.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { assertOneOwner, clusterDeployment, comparableDump, profilesOf, waitFor, type ClusterOptions } from './support/cluster.ts';
import { T0, tempDir } from './support/open.ts';
import { serviceSkip } from './support/services.ts';
import { workload } from './support/workload.ts';
import type { ConfigInput } from '../src/config/index.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

// Each test closes its nodes and drops its deployment when it ends (each node keeps up to 10 PostgreSQL connections).
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const PARTITIONS = 4;
const BIN = new URL('../bin/portrait.js', import.meta.url).pathname;

async function send(p: Portrait, all: readonly unknown[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < all.length; i += 250) accepted += (await p.ingest(all.slice(i, i + 250))).accepted;
  return accepted;
}

/** Events counted over the people's profiles (a group's profile counts its members' events again). */
function counted(dump: readonly string[]): number {
  return profilesOf(dump)
    .filter((d) => d.kind === 'user')
    .reduce((n, d) => n + d.eventCount, 0);
}

const held = (p: Portrait) => p.cluster?.partitionsHeld() ?? [];

/** Two workers (role all: both also ingest) on one database and stream, once they split the partitions. */
async function twoWorkers(config: (c?: ClusterOptions) => ConfigInput, clock?: ManualClock) {
  const a = await Portrait.open(config({ workerId: 'a' }), { clock });
  cleanups.push(() => a.close());
  const b = await Portrait.open(config({ workerId: 'b' }), { clock });
  cleanups.push(() => b.close());
  await waitFor(() => held(a).length === 2 && held(b).length === 2, 15_000, () => `each worker holds two partitions (a: ${held(a)}, b: ${held(b)})`);
  return { a, b };
}

function isCode(code: string, ...mentions: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isPortraitError(e), `a Portrait error, not ${String(e)}`);
    assert.equal(e.code, code);
    for (const m of mentions) assert.ok(e.message.includes(m), `the message names ${m}: ${e.message}`);
    return true;
  };
}

describe('rebuild on a running deployment of partitioned workers', { skip }, () => {
  it('one worker rebuilds while the other keeps running and events keep arriving on both: every acknowledged event counts once, and the state equals a rebuild', async () => {
    // Leases of 3 s rather than the suite's 0.9 s: on a loaded 2-core machine a renewal query alone took up to
    // 1.2 s, so 0.9 s leases lapsed now and then (and were taken again), and this test is about the fence, not expiry.
    const deployment = await clusterDeployment(PARTITIONS, cleanups);
    const config = (c?: ClusterOptions) => deployment({ leaseTimeoutMs: 3_000, ...c });
    const clock = new ManualClock(T0);
    const { a, b } = await twoWorkers(config, clock);
    const all = [...workload({ events: 6_000, users: 400, seed: 23, duplicateRate: 0.02, start: T0 - 3 * 86_400_000 })];
    let accepted = (await send(a, all.slice(0, 1_500))) + (await send(b, all.slice(1_500, 3_000)));
    await a.drain();

    // Events keep arriving through both nodes for the whole rebuild, and some are sent while the fence is up.
    let sending = true;
    const background = (async () => {
      let n = 0;
      for (let i = 3_000; i < 5_000 && sending; i += 100, n++) {
        const r = await (n % 2 === 0 ? b : a).ingest(all.slice(i, i + 100));
        accepted += r.accepted;
      }
    })();
    let during: Promise<number> | undefined;
    let seen: { leases: Promise<Array<{ partition: number; owner: string }>>; b: number[]; a: number[] } | undefined;
    const admin = await PostgresStore.open({ url: config().cluster!.databaseUrl!, migrate: false });
    cleanups.push(() => admin.close());
    const leaseTable = new LeaseStore(admin.pool, 3_000);
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    await a.rebuild(() => {
      if (during !== undefined) return;
      // Called while the replay runs, under the fence: the rebuilding node holds every partition's lease, the
      // other runs no engine. (Its engines may restart meanwhile, e.g. on records made under other versions:
      // a restart keeps the lease, so the lease table, not the engines running this instant, is what to ask.)
      seen = { leases: leaseTable.list(), b: held(b), a: held(a) };
      during = Promise.all([b.ingest(all.slice(5_000, 5_500)), a.ingest(all.slice(5_500, 6_000))]).then((r) => r[0].accepted + r[1].accepted);
    });
    stalls.disable();
    const leased = (await seen!.leases).map((l) => [l.partition, l.owner]);
    assert.deepEqual(leased, [[0, 'a'], [1, 'a'], [2, 'a'], [3, 'a']], `during the replay the rebuilding worker held every partition's lease (engines running then: ${seen!.a.join(', ')}; longest event loop stall ${Math.round(stalls.max / 1e6)} ms)`);
    assert.deepEqual(seen!.b, [], 'and the other worker ran no engine');
    const sentDuring = await during!;
    assert.ok(sentDuring > 0, `${sentDuring} events were acknowledged while the fence was up`);
    accepted += sentDuring;
    sending = false;
    await background;
    await waitFor(() => held(a).length === 2 && held(b).length === 2, 15_000, () => `the other worker took its partitions back (a: ${held(a)}, b: ${held(b)})`);
    // Late events: the other worker continues from the committed positions.
    accepted += await send(b, all.slice(4_000, 6_000).map((m) => ({ ...m, messageId: `late-${String(m.messageId)}` })));
    await a.drain();
    await b.drain();

    const state = await a.stateDump();
    assert.equal(counted(state), accepted, `every acknowledged event (${accepted}) counts once`);
    assertOneOwner(state);
    // The other worker rebuilds now, while the first keeps running.
    await b.rebuild();
    await waitFor(() => held(a).length === 2 && held(b).length === 2, 15_000, 'the first worker took its partitions back');
    assert.deepEqual(comparableDump(await b.stateDump()), comparableDump(state), 'the state equals a rebuild from the log');
  });

  it('for random workloads, partition counts, moments and rebuilding nodes, events arriving meanwhile count once and the state equals a rebuild (property)', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 1_000_000 }), fc.constantFrom(2, 3, 5), fc.integer({ min: 0, max: 1_500 }), fc.boolean(), async (seed, partitions, before, first) => {
        const config = await clusterDeployment(partitions, cleanups);
        const clock = new ManualClock(T0);
        const a = await Portrait.open(config({ workerId: `a-${seed}` }), { clock });
        const b = await Portrait.open(config({ workerId: `b-${seed}` }), { clock });
        try {
          const both = () => held(a).length + held(b).length === partitions && held(a).length > 0 && held(b).length > 0;
          await waitFor(both, 15_000, () => `the workers split the partitions (a: ${held(a)}, b: ${held(b)})`);
          const all = [...workload({ events: 1_500, users: 150, seed, duplicateRate: 0.02, start: T0 - 86_400_000 })];
          let accepted = await send(a, all.slice(0, before));
          const [rebuilder, other] = first ? [a, b] : [b, a];
          // The rest arrives through the other node while the rebuild runs.
          const meanwhile = send(other, all.slice(before));
          await rebuilder.rebuild();
          accepted += await meanwhile;
          await waitFor(both, 15_000, () => `the workers split the partitions again (a: ${held(a)}, b: ${held(b)})`);
          await a.drain();
          const state = await a.stateDump();
          assert.equal(counted(state), accepted, `every acknowledged event (${accepted}) counts once`);
          await other.rebuild();
          assert.deepEqual(comparableDump(await other.stateDump()), comparableDump(state), 'the state equals a rebuild');
        } finally {
          await a.close();
          await b.close();
        }
      }),
      { numRuns: 3 },
    );
  });

  it("a stale writer that wakes up after the rebuild, under the lease token and position it had before, fails with PORTRAIT_STALE_WRITER and writes nothing", async () => {
    const config = await clusterDeployment(PARTITIONS, cleanups);
    const clock = new ManualClock(T0);
    const { a, b } = await twoWorkers(config, clock);
    const all = [...workload({ events: 2_000, users: 200, seed: 29, start: T0 - 86_400_000 })];
    await send(a, all);
    await b.drain();
    const url = config().cluster!.databaseUrl!;
    const store = await PostgresStore.open({ url });
    cleanups.push(() => store.close());
    const lease = (await new LeaseStore(store.pool, 900).list()).find((l) => l.owner === 'b')!;
    const position = await store.position(lease.partition);
    // The engine of b's partition as it was before the rebuild: it loads the position and holds the token (its log is a copy it reads on its own).
    const copy = new SqliteEventLog({ file: ':memory:', durability: 'normal' });
    cleanups.push(async () => copy.close());
    const stale = new Engine({
      ...engineOptions(resolveConfig({ engine: { commitIntervalMs: 0 } }), { log: copy, store, definitions: new Definitions({ setOnce: new Set(), types: {} }), clock, hashKey: Buffer.alloc(32, 1) }),
      partition: lease.partition,
      fenced: true,
      leaseToken: lease.token,
    });
    await stale.start();

    await a.rebuild();
    await waitFor(() => held(a).length === 2 && held(b).length === 2, 15_000, 'both workers hold their partitions again');
    await a.drain();
    assert.equal(await store.position(lease.partition), position, 'the rebuild brought the partition back to the same position: the position check alone would let the stale writer through');
    const before = await store.dump();
    // It wakes up: it folds records past its position and commits them.
    const events = Array.from({ length: position + 3 }, (_, i) => {
      const r = parseMessage({ type: 'track', userId: 'stale', event: 'E', messageId: `stale-${i}` }, { workspace: 'default', clock, receivedAt: T0 });
      return r.ok ? r.event : assert.fail('the event is valid');
    });
    await copy.append(events);
    await assert.rejects(stale.drain(), isCode('PORTRAIT_STALE_WRITER', `Partition ${lease.partition}`), 'its commit under the old lease token fails');
    assert.deepEqual(await store.dump(), before, 'and writes nothing over the rebuilt state');
    await stale.stop().catch(() => undefined);
  });

  it('gives up after the wait with PORTRAIT_REBUILD_BLOCKED naming a worker that keeps its lease, or PORTRAIT_REBUILD_IN_PROGRESS naming another rebuild, clearing nothing; the workers then continue', async () => {
    const config = await clusterDeployment(PARTITIONS, cleanups);
    const url = config().cluster!.databaseUrl!;
    const store = await PostgresStore.open({ url });
    cleanups.push(() => store.close());
    // A worker that does not know the fence (an older version) holds partition 3 for a minute.
    const old = new LeaseStore(store.pool, 60_000);
    const oldToken = await old.acquire(3, 'old-worker');
    assert.ok(oldToken !== undefined, 'the old worker holds partition 3');
    const clock = new ManualClock(T0);
    const a = await Portrait.open(config({ workerId: 'a' }), { clock });
    cleanups.push(() => a.close());
    const b = await Portrait.open(config({ workerId: 'b' }), { clock });
    cleanups.push(() => b.close());
    await waitFor(() => held(a).length + held(b).length === 3, 15_000, () => `a and b hold the three other partitions (a: ${held(a)}, b: ${held(b)})`);
    // Events of people homed outside partition 3 only, so the partitions a and b hold commit all of them.
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`).filter((u) => partitionOf('default', u, PARTITIONS) !== 3);
    const events = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ type: 'track', userId: users[(from + i) % users.length], event: 'Order Completed', properties: { price: 1 + (i % 7) }, messageId: `e${from + i}`, timestamp: new Date(T0 - 1000 * (from + i)).toISOString() }));
    let accepted = await send(a, events(0, 800));
    await a.drain();
    const before = comparableDump(await a.stateDump());

    await assert.rejects(a.rebuild(undefined, { waitMs: 1_500 }), isCode('PORTRAIT_REBUILD_BLOCKED', 'old-worker', '1500 ms'), 'the rebuild gives up, naming the worker that kept its lease');
    assert.deepEqual(comparableDump(await a.stateDump()), before, 'nothing was cleared');
    const leases = new LeaseStore(store.pool, 900);
    assert.equal(await leases.fence(), undefined, 'the fence is lifted');
    await waitFor(() => held(a).length + held(b).length === 3, 15_000, () => `a and b hold their partitions again (a: ${held(a)}, b: ${held(b)})`);
    accepted += await send(b, events(800, 400));
    await b.drain();
    const mid = comparableDump(await a.stateDump());
    assert.equal(counted(mid), accepted, 'the workers continue');

    // Another rebuild holds the fence: the workers give their partitions back, and this rebuild gives up.
    const other = new LeaseStore(store.pool, 60_000);
    const epoch = await other.raiseFence('other-rebuild');
    assert.ok(epoch !== undefined, 'the other rebuild raised the fence');
    await waitFor(() => held(a).length + held(b).length === 0, 15_000, () => `the workers gave every partition back (a: ${held(a)}, b: ${held(b)})`);
    await assert.rejects(a.rebuild(undefined, { waitMs: 500 }), isCode('PORTRAIT_REBUILD_IN_PROGRESS', 'other-rebuild'), 'the rebuild gives up, naming the other rebuild');
    assert.deepEqual(comparableDump(await a.stateDump()), mid, 'nothing was cleared');
    await other.lowerFence('other-rebuild', epoch);
    await old.release(3, 'old-worker', oldToken);
    await waitFor(() => held(a).length === 2 && held(b).length === 2, 15_000, () => `the workers took every partition again (a: ${held(a)}, b: ${held(b)})`);
    accepted += await send(a, events(1_200, 400));
    await a.drain();
    assert.equal(counted(await a.stateDump()), accepted, 'every event counts once');

    const api = await Portrait.open(config({ role: 'api', workerId: 'api' }), { clock });
    cleanups.push(() => api.close());
    await assert.rejects(api.rebuild(), isCode('PORTRAIT_REBUILD_NOT_A_WORKER'), 'an API-only node cannot rebuild');
    assert.equal(counted(await a.stateDump()), accepted, 'and clears nothing');
  });

  it('a rebuilding process killed with SIGKILL holds the deployment up for one lease timeout at most: its fence and leases expire, the worker continues from the committed positions, and the state equals a rebuild', { timeout: 600_000 }, async () => {
    const config = await clusterDeployment(PARTITIONS, cleanups);
    const w = await Portrait.open(config({ workerId: 'w' }));
    cleanups.push(() => w.close());
    await waitFor(() => held(w).length === PARTITIONS, 15_000, 'the only worker holds every partition');
    const all = [...workload({ events: 14_000, users: 1_000, seed: 31, duplicateRate: 0.02, start: Date.now() - 3 * 86_400_000 })];
    let accepted = await send(w, all.slice(0, 12_000));
    await w.drain();
    const store = await PostgresStore.open({ url: config().cluster!.databaseUrl! });
    cleanups.push(() => store.close());
    const leases = new LeaseStore(store.pool, 900);
    const positions = async () => {
      let n = 0;
      for (let p = 0; p < PARTITIONS; p++) n += await store.position(p);
      return n;
    };
    const committed = await positions();

    // `portrait rebuild` in a process of its own, on the same configuration.
    const { dir, cleanup } = tempDir();
    cleanups.push(async () => cleanup());
    const file = join(dir, 'portrait.config.json');
    writeFileSync(file, JSON.stringify(config()));
    const child = spawn(process.execPath, [BIN, 'rebuild', '--no-progress', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let exit: number | null | undefined;
    child.once('exit', (code) => (exit = code));
    cleanups.push(async () => void child.kill('SIGKILL'));
    // Killed once it holds the fence and every partition and has cleared the state (positions went back): the
    // poll's read waits for the clearing's lock, so the kill lands right after it, the riskiest point.
    await waitFor(
      async () => {
        if (exit !== undefined) assert.fail(`the rebuild ended (exit ${exit}) before it could be killed mid-replay: ${stderr}`);
        const fence = await leases.fence();
        const mine = (await leases.list()).filter((l) => l.owner === fence?.owner).length;
        return fence?.owner.startsWith('rebuild-') === true && mine === PARTITIONS && (await positions()) < committed;
      },
      120_000,
      () => `the rebuilding process holds every partition mid-replay (${stderr})`,
    );
    assert.deepEqual(held(w), [], 'meanwhile the worker holds no partition');
    child.kill('SIGKILL');
    await waitFor(() => exit !== undefined, 10_000, 'the rebuilding process is gone');

    await waitFor(() => held(w).length === PARTITIONS, 15_000, () => `the worker takes every partition back once the fence expired (holds ${held(w)})`);
    assert.equal(await leases.fence(), undefined, 'the fence expired');
    accepted += await send(w, all.slice(12_000));
    await w.drain();
    const state = await w.stateDump();
    assert.equal(counted(state), accepted, `every acknowledged event (${accepted}) counts once after the half-done replay`);
    assertOneOwner(state);
    await w.rebuild();
    assert.deepEqual(comparableDump(await w.stateDump()), comparableDump(state), 'the state equals a rebuild');
  });
});
