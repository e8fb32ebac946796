import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { systemClock } from '../core/clock.ts';
import type { Positioned, PortraitEvent } from '../core/event.ts';
import { consentPolicyOf, resolveConfig } from '../config/index.ts';
import { SqliteEventLog, type EventLog } from '../log/index.ts';
import { SqliteStore } from '../storage/index.ts';
import { Definitions } from './definitions.ts';
import { Engine } from './engine.ts';
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

/** Runs an engine over 100 events while 3 batches of 100 arrive during its reads; the positions of its commits. */
async function commitsWhileArriving(commitIntervalMs: number): Promise<number[]> {
  const config = resolveConfig({ traits: [{ name: 'views', kind: 'count', filter: { event: 'Product Viewed' } }] });
  const inner = new SqliteEventLog({ file: ':memory:' });
  const log = arrivingWhileRead(inner, 3, 100);
  const store = new SqliteStore({ file: ':memory:' });
  const definitions = new Definitions({ setOnce: new Set(), types: {} }, consentPolicyOf(config));
  const { save } = definitions.reconcile(config.traitDefinitions, 0, Date.now());
  await store.saveDefinitions(save);
  const commits: number[] = [];
  const engine = new Engine({ ...engineOptions(config, { log, store, definitions, clock: systemClock, hashKey: Buffer.alloc(32) }), commitIntervalMs, onCommit: (position) => commits.push(position) });
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

describe('Engine group commit', () => {
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
