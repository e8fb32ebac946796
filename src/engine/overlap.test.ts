import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { systemClock } from '../core/clock.ts';
import type { PortraitEvent } from '../core/event.ts';
import { consentPolicyOf, resolveConfig } from '../config/index.ts';
import { TEN_TRAITS, workload } from '../demo/workload.ts';
import { parseMessage } from '../ingest/index.ts';
import { SqliteEventLog } from '../log/index.ts';
import { SqliteStore, type Changeset, type StateStore } from '../storage/index.ts';
import { Definitions } from './definitions.ts';
import { Engine } from './engine.ts';
import { engineOptions } from './options.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HASH_KEY = Buffer.alloc(32, 7);

/**
 * A store whose detached commits take a copy of the changeset at once and
 * land it `delay()` ms later, as a commit thread would; `fail(n)` says
 * whether the n-th detached commit fails instead of landing. It counts the
 * commits it saw detached and the log reads the engine made while one was on
 * its way (`overlapped`), so a test can tell the engine folded meanwhile.
 */
class LateStore {
  detached = 0;
  inFlight = 0;
  overlapped = 0;
  constructor(
    readonly target: SqliteStore,
    private readonly delay: () => number,
    private readonly fail: (n: number) => boolean = () => false,
  ) {}

  asStore(): StateStore {
    const self = this;
    return new Proxy(this.target, {
      get(target, key) {
        if (key === 'commitDetached')
          return (c: Changeset) => {
            const n = ++self.detached;
            const copy = structuredClone(c);
            self.inFlight++;
            const landed = sleep(self.delay()).then(() => {
              self.inFlight--;
              if (self.fail(n)) throw new Error(`commit ${n} failed (test)`);
              return target.commit(copy);
            });
            return { landed };
          };
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as StateStore;
  }

  /** A log whose reads note whether a detached commit was on its way. */
  watch(log: SqliteEventLog): SqliteEventLog {
    const self = this;
    return new Proxy(log, {
      get(target, key) {
        if (key === 'read')
          return (after: number, limit: number) => {
            if (self.inFlight > 0) self.overlapped++;
            return target.read(after, limit);
          };
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

function events(n: number, users: number, seed: number): PortraitEvent[] {
  const out: PortraitEvent[] = [];
  for (const m of workload({ events: n, users, seed, start: Date.UTC(2026, 9, 1) })) {
    const r = parseMessage(m, { workspace: 'default', clock: systemClock, receivedAt: Date.UTC(2026, 10, 1) });
    if (r.ok) out.push(r.event);
  }
  return out;
}

function openEngine(log: SqliteEventLog, store: StateStore, cacheProfiles: number, onError?: (e: unknown) => void) {
  const config = resolveConfig({ traits: [...TEN_TRAITS], engine: { batchSize: 40, cacheProfiles } } as never);
  const definitions = new Definitions({ setOnce: new Set(), types: {} }, consentPolicyOf(config));
  definitions.reconcile(config.traitDefinitions, 0, Date.UTC(2026, 10, 1));
  return { engine: new Engine({ ...engineOptions(config, { log, store, definitions, clock: systemClock, hashKey: HASH_KEY }), onError }), definitions };
}

/** The state a fresh engine folds from the same log, in one pass. */
async function rebuilt(log: SqliteEventLog): Promise<string[]> {
  const store = new SqliteStore({ file: ':memory:' });
  const { engine, definitions } = openEngine(log, store, 100_000);
  await store.saveDefinitions(definitions.allLive(Date.UTC(2026, 10, 1)));
  await engine.start({ bulk: true });
  await engine.drain();
  await engine.stop();
  return store.dump();
}

/** Appends `all` in chunks with pauses (so the engine commits while more arrives), then drains. */
async function feed(log: SqliteEventLog, engine: Engine, all: readonly PortraitEvent[], chunks: readonly number[]): Promise<void> {
  let i = 0;
  for (let k = 0; i < all.length; k++) {
    const size = chunks[k % chunks.length]!;
    await log.append(all.slice(i, i + size));
    i += size;
    await sleep(k % 3);
  }
}

describe('Engine: folding while a commit is written (commitDetached)', () => {
  it('equals a rebuild for any chunking and commit delays, and folds while commits land', async () => {
    let overlappedSomewhere = false;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000 }), fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 12 }), async (seed, chunks, maxDelay) => {
        const log = new SqliteEventLog({ file: ':memory:' });
        const target = new SqliteStore({ file: ':memory:' });
        const late = new LateStore(target, () => Math.floor(Math.random() * (maxDelay + 1)));
        const { engine, definitions } = openEngine(late.watch(log), late.asStore(), 100_000);
        await target.saveDefinitions(definitions.allLive(Date.UTC(2026, 10, 1)));
        await engine.start();
        const all = events(600, 40, seed);
        await feed(log, engine, all, chunks);
        await engine.drain();
        // Drained means stored: the position every appended record reached is the store's.
        assert.equal(await target.position(0), log.head());
        await engine.stop();
        assert.deepEqual(await target.dump(), await rebuilt(log));
        overlappedSomewhere ||= late.overlapped > 0;
        await log.close();
      }),
      { numRuns: 12 },
    );
    assert.ok(overlappedSomewhere, 'in some run the engine read the log while a commit was on its way');
  });

  it('recovers from a detached commit that fails: the failure surfaces, what was folded after it is dropped, and the next run reaches the rebuilt state', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    const target = new SqliteStore({ file: ':memory:' });
    const late = new LateStore(target, () => 5, (n) => n === 3);
    const errors: unknown[] = [];
    const { engine, definitions } = openEngine(late.watch(log), late.asStore(), 100_000, (e) => errors.push(e));
    await target.saveDefinitions(definitions.allLive(Date.UTC(2026, 10, 1)));
    const all = events(400, 30, 11);
    await engine.start();
    for (let i = 0; i < all.length; i += 25) {
      await log.append(all.slice(i, i + 25));
      await sleep(1);
    }
    // A drain runs the loop again after a failure (as resume() does) and resolves once everything is stored.
    await engine.drain();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /commit 3 failed/);
    assert.ok(late.detached > 3, 'commits went on after the failed one');
    assert.equal(await target.position(0), log.head());
    await engine.stop();
    assert.deepEqual(await target.dump(), await rebuilt(log));
    await log.close();
  });

  it('waits for each commit once its caches are over their bound, so it trims only what is stored, and still equals a rebuild', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    const target = new SqliteStore({ file: ':memory:' });
    const late = new LateStore(target, () => 3);
    // 100 profiles cached at most, 300 users: the caches go over their bound between commits.
    const { engine, definitions } = openEngine(late.watch(log), late.asStore(), 100);
    await target.saveDefinitions(definitions.allLive(Date.UTC(2026, 10, 1)));
    await engine.start();
    const all = events(1_500, 300, 5);
    await feed(log, engine, all, [60, 7, 150]);
    await engine.drain();
    await engine.stop();
    assert.ok(late.detached > 0, 'some commits were detached');
    assert.deepEqual(await target.dump(), await rebuilt(log));
    await log.close();
  });
});
