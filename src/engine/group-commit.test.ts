import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { systemClock } from '../core/clock.ts';
import type { Positioned, PortraitEvent } from '../core/event.ts';
import { consentPolicyOf, resolveConfig } from '../config/index.ts';
import { SqliteEventLog, type EventLog } from '../log/index.ts';
import { SqliteStore } from '../storage/index.ts';
import { Definitions } from './definitions.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { engineOptions } from './options.ts';

function view(i: number): PortraitEvent {
  return { type: 'track', event: 'Product Viewed', userId: `u${i % 13}`, messageId: `m${i}`, timestamp: 1_000 + i, receivedAt: 1_000 + i, workspace: 'default', properties: {} } as unknown as PortraitEvent;
}

const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => view(from + i));

/** A log to which `arrivals` more batches of events are appended while the engine reads, as when events keep arriving during a fold. */
function arrivingWhileRead(log: SqliteEventLog, arrivals: number, size: number): EventLog {
  let next = 100_000;
  return new Proxy(log, {
    get(target, key) {
      if (key === 'read')
        return async (after: number, limit: number): Promise<Positioned[]> => {
          const rows = await target.read(after, limit);
          if (rows.length > 0 && arrivals-- > 0) await target.append(batch((next += size), size));
          return rows;
        };
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** An engine counting views over `log`, with an in-memory store; `commits` receives the position of each commit. */
async function countingEngine(log: EventLog, options: Partial<EngineOptions>): Promise<{ engine: Engine; store: SqliteStore; commits: number[] }> {
  const config = resolveConfig({ traits: [{ name: 'views', kind: 'count', filter: { event: 'Product Viewed' } }] });
  const store = new SqliteStore({ file: ':memory:' });
  const definitions = new Definitions({ setOnce: new Set(), types: {} }, consentPolicyOf(config));
  const { save } = definitions.reconcile(config.traitDefinitions, 0, Date.now());
  await store.saveDefinitions(save);
  const commits: number[] = [];
  const engine = new Engine({ ...engineOptions(config, { log, store, definitions, clock: systemClock, hashKey: Buffer.alloc(32) }), ...options, onCommit: (position) => commits.push(position) });
  return { engine, store, commits };
}

/** Runs an engine over 100 events while 3 batches of 100 arrive during its reads; the positions of its commits. */
async function commitsWhileArriving(commitIntervalMs: number): Promise<number[]> {
  const inner = new SqliteEventLog({ file: ':memory:' });
  const { engine, store, commits } = await countingEngine(arrivingWhileRead(inner, 3, 100), { commitIntervalMs });
  await inner.append(batch(0, 100));
  try {
    await engine.start();
    // Each drain waits for the head it sees; the arrivals move the head on meanwhile.
    for (let i = 0; i < 5 && engine.committedPosition() < 400; i++) await engine.drain();
    assert.equal(engine.committedPosition(), 400, 'every event is committed in the end');
    return commits;
  } finally {
    await engine.stop();
    await store.close();
    await inner.close();
  }
}

/** Runs an engine with `batchSize` over `backlog` events in the log before it starts, then `later` events appended one drain at a time; the positions of its commits. */
async function commitsAfterBacklog(backlog: number, later: number[], sizes: { batchSize: number; rebuildBatchSize: number }): Promise<number[]> {
  const log = new SqliteEventLog({ file: ':memory:' });
  const { engine, store, commits } = await countingEngine(log, { ...sizes, commitIntervalMs: 0 });
  await log.append(batch(0, backlog));
  try {
    await engine.start();
    await engine.drain();
    let next = backlog;
    for (const n of later) {
      await log.append(batch(next, n));
      next += n;
      await engine.drain();
    }
    assert.equal(engine.committedPosition(), next, 'every event is committed in the end');
    assert.equal((await store.profiles([{ workspace: 'default', id: (await store.identities([{ workspace: 'default', ident: 'user:u0' }])).get('default\u0000user:u0')! }])).size, 1);
    return commits;
  } finally {
    await engine.stop();
    await store.close();
    await log.close();
  }
}

describe('Engine group commit', () => {
  it('catches up a backlog longer than engine.batchSize in transactions of up to engine.rebuildBatchSize', async () => {
    const commits = await commitsAfterBacklog(2_500, [], { batchSize: 100, rebuildBatchSize: 1_000 });
    assert.deepEqual(commits, [1_000, 2_000, 2_500]);
  });

  it('keeps transactions of engine.batchSize once caught up, and for a backlog within one batch', async () => {
    const commits = await commitsAfterBacklog(100, [50, 100, 30], { batchSize: 100, rebuildBatchSize: 1_000 });
    assert.deepEqual(commits, [100, 150, 250, 280]);
  });

  it('never takes transactions larger than engine.batchSize when engine.rebuildBatchSize is smaller', async () => {
    const commits = await commitsAfterBacklog(350, [], { batchSize: 100, rebuildBatchSize: 10 });
    assert.deepEqual(commits, [100, 200, 300, 350]);
  });

  it('commits what was in the log when a step began, and leaves what arrives meanwhile to the next commit', async () => {
    const commits = await commitsWhileArriving(0);
    assert.equal(commits[0], 100, 'the first commit holds the 100 events there at the start, not the 300 that arrived while it folded');
    assert.deepEqual(commits, [...commits].sort((a, b) => a - b), 'commits in log order');
    assert.equal(commits[commits.length - 1], 400);
  });

  it('with a write-behind window, keeps folding arrivals into one commit until the window has passed', async () => {
    const commits = await commitsWhileArriving(60_000);
    // drain() asks for the commit once the engine has caught up, long before the window ends.
    assert.deepEqual(commits, [400], 'one commit of everything');
  });
});
