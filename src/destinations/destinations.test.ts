import { strict as assert } from 'node:assert';
import { after, beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { isPortraitError } from '../core/errors.ts';
import { SqliteStore } from '../storage/index.ts';
import { startReceiver, type Receiver, type Responder } from '../../test/support/receiver.ts';
import { Destinations } from './destinations.ts';
import type { DeliveryOptions } from './delivery-worker.ts';
import { verifySignature } from './signature.ts';

const T0 = Date.UTC(2026, 10, 1);
const SECRET = 'whsec_test_0123456789';
const OPTIONS: DeliveryOptions = { maxAttempts: 5, backoffBaseMs: 1000, backoffCapMs: 60_000, timeoutMs: 300, concurrency: 4, batchSize: 3, idleMs: 50 };

interface Setup {
  store: SqliteStore;
  d: Destinations;
  clock: ManualClock;
}

function open(options: Partial<DeliveryOptions> = {}, configured: unknown[] = []): Setup {
  const store = new SqliteStore({ file: ':memory:' });
  const clock = new ManualClock(T0);
  // rng 0.5: half of each ceiling, so the schedule is exact.
  const d = new Destinations({ db: store.db, clock, delivery: { ...OPTIONS, ...options }, configured, defaultWorkspace: 'w', rng: () => 0.5 });
  return { store, d, clock };
}

function notify(s: Setup, rows: Array<{ kind: string; profileId: string; segment?: string; workspace?: string }>): number[] {
  return s.d.store.appendOutbox(
    rows.map((r, i) => ({
      workspace: r.workspace ?? 'w',
      kind: r.kind,
      profileId: r.profileId,
      payload: JSON.stringify({ ...(r.segment ? { segment: r.segment } : {}), time: s.clock.now(), reason: `test ${i}` }),
      position: i + 1,
      createdAt: s.clock.now(),
    })),
  );
}

/** Runs delivery passes, advancing the clock past every backoff, until nothing is pending. */
async function deliverAll(s: Setup, maxPasses = 20): Promise<number> {
  for (let pass = 1; pass <= maxPasses; pass++) {
    await s.d.worker.runOnce();
    const due = s.d.store.nextDueAt();
    if (due === undefined) return pass;
    s.clock.set(Math.max(s.clock.now() + 1, due));
  }
  assert.fail(`still pending after ${maxPasses} passes`);
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (isPortraitError(e)) return e.code;
    throw e;
  }
  return undefined;
};

describe('webhook destinations', () => {
  let receiver: Receiver | undefined;
  let s: Setup;
  let respond: Responder = () => 200;
  const receiverUrl = async (path = '/hook') => {
    receiver ??= await startReceiver((r) => respond(r), 3000);
    return receiver.url + path;
  };
  beforeEach(() => {
    receiver?.received.splice(0);
    respond = () => 200;
  });
  after(async () => {
    await receiver?.close();
  });

  it('delivers each notification exactly once in the end, through 500s and a timeout, signed, with a stable idempotency id', async () => {
    // A timeout long enough that a loaded machine does not time out the answered attempts.
    s = open({ timeoutMs: 1500 });
    const seqById = new Map<string, number>();
    // First attempt: 500. Second: even outbox seqs time out, odd ones 503. Third: 200.
    respond = (r) => {
      const seq = seqById.get(r.deliveryId) ?? Number(r.deliveryId.split(':')[1]);
      seqById.set(r.deliveryId, seq);
      if (r.nth === 1) return 500;
      if (r.nth === 2) return seq % 2 === 0 ? 'hang' : 503;
      return 200;
    };
    const hook = s.d.create('w', { id: 'hook', url: await receiverUrl(), secret: SECRET, kinds: ['segment.entered', 'segment.exited', 'profile.updated'] });
    assert.equal(hook.secret, SECRET, 'the secret is returned at creation');
    const seqs = notify(s, [
      { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
      { kind: 'segment.entered', profileId: 'p2', segment: 'vip' },
      { kind: 'profile.updated', profileId: 'p1' },
      { kind: 'segment.exited', profileId: 'p1', segment: 'vip' },
      { kind: 'segment.entered', profileId: 'p3', segment: 'churn' },
      { kind: 'segment.entered', profileId: 'p9', segment: 'vip', workspace: 'other' },
      { kind: 'profile.updated', profileId: 'p4' },
    ]);
    await deliverAll(s);
    const expected = seqs.filter((_, i) => i !== 5).map((q) => `hook:${q}`);
    const successes = receiver!.successes();
    assert.deepEqual([...successes.keys()].sort(), [...expected].sort(), 'every notification of the workspace arrived, none of another workspace');
    for (const [id, n] of successes) assert.equal(n, 1, `${id} answered 2xx exactly once`);
    for (const r of receiver!.received) {
      const v = verifySignature(SECRET, r.headers['portrait-signature'] as string, r.body, { now: s.clock.now(), toleranceSec: 3600 });
      assert.ok(v.ok, `signature of ${r.deliveryId} attempt ${r.nth} verifies: ${JSON.stringify(v)}`);
      assert.equal(r.headers['idempotency-key'], r.deliveryId, 'idempotency key equals the delivery id');
      assert.equal(JSON.parse(r.body).id, r.deliveryId, 'the body carries the id too');
    }
    // Every attempt of one delivery sends the same body.
    const bodies = new Map<string, Set<string>>();
    for (const r of receiver!.received) bodies.set(r.deliveryId, (bodies.get(r.deliveryId) ?? new Set()).add(r.body));
    for (const [id, b] of bodies) assert.equal(b.size, 1, `${id}: one body across attempts`);

    const log = s.d.deliveries('w', 'hook');
    assert.equal(log.items.length, 6, 'six deliveries');
    for (const dl of log.items) {
      assert.equal(dl.status, 'delivered', `${dl.id} delivered`);
      // Three by the receiver's script; more only if a loaded machine timed out an answered attempt.
      assert.ok(dl.attempts >= 3, `${dl.id} took at least three attempts (${dl.attempts})`);
      assert.equal(dl.responseCode, 200, 'last response code');
    }
    const first = JSON.parse(log.items[0]!.body);
    assert.equal(first.type, 'segment.entered', 'kind in the body');
    assert.equal(first.data.segment, 'vip', 'payload in the body');
    assert.equal(first.profileId, 'p1', 'profile id in the body');
    const timedOut = receiver!.received.filter((r) => r.answer === 'hang').length;
    assert.ok(timedOut >= 2, `some attempts timed out (${timedOut})`);

    // Nothing further is created or sent: the cursor moved past every row.
    assert.deepEqual(await s.d.worker.runOnce(), { created: 0, attempts: 0 }, 'a later pass does nothing');
    await s.store.close();
  });

  it('records errors and backs off by the schedule between attempts', async () => {
    s = open();
    respond = () => 500;
    s.d.create('w', { id: 'down', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
    notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
    await s.d.worker.runOnce();
    let dl = s.d.deliveries('w', 'down').items[0]!;
    assert.equal(dl.attempts, 1, 'one attempt');
    assert.equal(dl.lastError, 'HTTP 500', 'the error is kept');
    assert.equal(dl.responseCode, 500, 'the response code is kept');
    // rng 0.5 → floor(0.5 × (1000 + 1)) = 500 ms after the first failure.
    assert.equal(dl.nextAttemptAt, T0 + 500, 'retry at half the first ceiling');
    s.clock.advance(499);
    assert.equal((await s.d.worker.runOnce()).attempts, 0, 'not due yet');
    s.clock.advance(1);
    await s.d.worker.runOnce();
    dl = s.d.deliveries('w', 'down').items[0]!;
    assert.equal(dl.attempts, 2, 'second attempt when due');
    assert.equal(dl.nextAttemptAt, T0 + 500 + 1000, 'the ceiling doubled');
    await s.store.close();
  });

  it('moves a delivery to the dead letters after the last attempt; a replay delivers it', async () => {
    s = open({ maxAttempts: 3 });
    let up = false;
    respond = (r) => (r.path === '/flaky' && up ? 200 : 500);
    s.d.create('w', { id: 'flaky', url: await receiverUrl('/flaky'), secret: SECRET, kinds: ['segment.entered'] });
    notify(s, [
      { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
      { kind: 'segment.entered', profileId: 'p2', segment: 'vip' },
    ]);
    await deliverAll(s);
    assert.equal(receiver!.received.length, 6, 'three attempts each');
    const dead = s.d.deadLetters('w', 'flaky');
    assert.equal(dead.items.length, 2, 'two dead letters');
    assert.equal(dead.items[0]!.attempts, 3, 'attempts recorded');
    assert.equal(dead.items[0]!.responseCode, 500, 'last response code recorded');
    assert.deepEqual(s.d.deliveries('w', 'flaky', { status: 'dead' }).items.map((x) => x.status), ['dead', 'dead'], 'the log filters by status');
    assert.equal(s.d.deliveries('w', 'flaky', { status: 'pending' }).items.length, 0, 'none pending');

    up = true;
    const one = dead.items[0]!.deliveryId;
    assert.deepEqual(s.d.replay('w', 'flaky', one), { replayed: [one] }, 'one replayed');
    assert.equal(codeOf(() => s.d.replay('w', 'flaky', one)), 'PORTRAIT_DEAD_LETTER_NOT_FOUND', 'a replayed letter cannot be replayed twice');
    await s.d.worker.runOnce();
    assert.equal(s.d.deliveries('w', 'flaky', { status: 'delivered' }).items.length, 1, 'the replayed one is delivered');
    assert.equal(s.d.replay('w', 'flaky').replayed.length, 1, 'replay of all open dead letters');
    await s.d.worker.runOnce();
    assert.equal(s.d.deliveries('w', 'flaky', { status: 'delivered' }).items.length, 2, 'both delivered');
    assert.equal(s.d.deadLetters('w', 'flaky').items.length, 0, 'no open dead letters');
    assert.equal(s.d.deadLetters('w', 'flaky', { replayed: true }).items.length, 2, 'both kept as replayed');
    const successes = receiver!.successes();
    assert.deepEqual([...successes.values()], [1, 1], 'each delivered once');
    await s.store.close();
  });

  it('a failure between creating deliveries and moving the cursor leaves neither; the next pass creates each once', async () => {
    s = open();
    s.d.create('w', { id: 'hook', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
    notify(s, [1, 2, 3, 4, 5].map((i) => ({ kind: 'profile.updated', profileId: `p${i}` })));
    assert.throws(
      () => s.d.worker.dispatch(() => {
        throw new Error('crash before commit');
      }),
      /crash before commit/,
      'the injected failure surfaces',
    );
    assert.equal(s.d.store.cursor('hook'), 0, 'the cursor did not move');
    assert.equal(s.d.deliveries('w', 'hook').items.length, 0, 'no delivery was kept');
    assert.equal(s.d.worker.dispatch(), 5, 'five deliveries created');
    assert.equal(s.d.worker.dispatch(), 0, 'none created twice');
    assert.equal(s.d.store.cursor('hook'), 5, 'cursor at the last row');
    await s.store.close();
  });

  it('filters by kind and segment; profile updates pass a segment filter by membership', async () => {
    s = open();
    const url = await receiverUrl();
    s.d.create('w', { id: 'vip', url, secret: SECRET, kinds: ['segment.entered', 'profile.updated'], segments: ['vip'] });
    s.d.store.addMembers([{ workspace: 'w', segment: 'vip', profileId: 'p1', since: T0 }]);
    notify(s, [
      { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
      { kind: 'segment.exited', profileId: 'p1', segment: 'vip' },
      { kind: 'segment.entered', profileId: 'p2', segment: 'churn' },
      { kind: 'profile.updated', profileId: 'p1' },
      { kind: 'profile.updated', profileId: 'p2' },
    ]);
    await s.d.worker.runOnce();
    const got = s.d.deliveries('w', 'vip').items.map((x) => `${x.kind} ${x.profileId}`);
    assert.deepEqual(got, ['segment.entered p1', 'profile.updated p1'], 'only subscribed kinds of the vip segment and its members');
    await s.store.close();
  });

  it('a new destination gets what is written after it; a paused one catches up when enabled', async () => {
    s = open();
    const url = await receiverUrl();
    notify(s, [{ kind: 'profile.updated', profileId: 'before' }]);
    s.d.create('w', { id: 'late', url, secret: SECRET, kinds: ['profile.updated'], enabled: false });
    notify(s, [{ kind: 'profile.updated', profileId: 'after' }]);
    await s.d.worker.runOnce();
    assert.equal(receiver!.received.length, 0, 'a paused destination receives nothing');
    assert.equal(s.d.update('w', 'late', { enabled: true }).enabled, true, 'enabled');
    await s.d.worker.runOnce();
    assert.deepEqual(s.d.deliveries('w', 'late').items.map((x) => x.profileId), ['after'], 'only the notification written after creation');
    assert.equal(receiver!.received.length, 1, 'sent once');
    await s.store.close();
  });

  it('the background loop delivers without explicit passes once woken, and stops cleanly', async () => {
    s = open();
    s.d.create('w', { id: 'live', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
    s.d.start();
    notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
    s.d.wake();
    for (let i = 0; i < 200 && receiver!.successes().size === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await s.d.stop();
    assert.deepEqual([...receiver!.successes().keys()], ['live:1'], 'delivered by the loop');
    notify(s, [{ kind: 'profile.updated', profileId: 'p2' }]);
    s.d.wake();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver!.received.length, 1, 'a stopped loop sends nothing');
    await s.store.close();
  });

  it('rejects bad definitions with every problem, and unknown ids, wrong workspaces and duplicates with clear codes', async () => {
    s = open();
    const problems = (raw: unknown): string[] => {
      try {
        s.d.create('w', raw);
      } catch (e) {
        if (isPortraitError(e) && e.code === 'PORTRAIT_DESTINATION_INVALID') return e.problems.map((p) => p.path);
        throw e;
      }
      return assert.fail('expected PORTRAIT_DESTINATION_INVALID');
    };
    assert.deepEqual(problems({ url: 'not a url', kinds: ['segment.entered'] }), ['/url'], 'unparseable URL');
    assert.deepEqual(problems({ url: 'ftp://x.example/h', kinds: ['segment.entered'] }), ['/url'], 'not http(s)');
    assert.deepEqual(problems({ url: 'https://x.example/h', kinds: ['segment.joined'], colour: 'red' }).sort(), ['/colour', '/kinds/0'].sort(), 'unknown kind and field');
    assert.deepEqual(problems({ url: 'https://x.example/h', kinds: [], secret: 'short' }).sort(), ['/kinds', '/secret'].sort(), 'empty kinds and short secret');
    s.d.create('w', { id: 'one', url: 'https://x.example/h', kinds: ['segment.entered'] });
    assert.equal(codeOf(() => s.d.create('w', { id: 'one', url: 'https://x.example/h', kinds: ['segment.entered'] })), 'PORTRAIT_DESTINATION_EXISTS', 'duplicate id');
    assert.equal(codeOf(() => s.d.get('other', 'one')), 'PORTRAIT_DESTINATION_NOT_FOUND', 'another workspace cannot see it');
    assert.equal(codeOf(() => s.d.deliveries('w', 'nope')), 'PORTRAIT_DESTINATION_NOT_FOUND', 'unknown id');
    assert.equal(codeOf(() => s.d.update('w', 'one', { url: 'mailto:x@y' })), 'PORTRAIT_DESTINATION_INVALID', 'bad patch');
    assert.equal(codeOf(() => s.d.replay('w', 'one', 'one:99')), 'PORTRAIT_DEAD_LETTER_NOT_FOUND', 'unknown dead letter');
    assert.equal(s.d.get('w', 'one').url, 'https://x.example/h', 'unchanged by the rejected patch');
    assert.equal('secret' in s.d.get('w', 'one'), false, 'the secret is not shown after creation');
    s.d.remove('w', 'one');
    assert.deepEqual(s.d.list('w'), [], 'removed');
    await s.store.close();
  });

  it('config-file destinations are created, updated and removed with the file, and cannot be changed over the API', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    const clock = new ManualClock(T0);
    const cfg = { id: 'crm', url: 'https://crm.example/hook', secret: SECRET, kinds: ['segment.entered'] };
    const mk = (configured: unknown[]) => new Destinations({ db: store.db, clock, delivery: OPTIONS, configured, defaultWorkspace: 'w' });
    let d = mk([cfg]);
    assert.equal(d.get('w', 'crm').source, 'config', 'created from the config');
    assert.equal(codeOf(() => d.update('w', 'crm', { enabled: false })), 'PORTRAIT_DESTINATION_FROM_CONFIG', 'read-only over the API');
    d = mk([{ ...cfg, url: 'https://crm.example/v2' }]);
    assert.equal(d.get('w', 'crm').url, 'https://crm.example/v2', 'updated with the file');
    d = mk([]);
    assert.deepEqual(d.list('w'), [], 'removed with the file');
    assert.throws(() => mk([{ ...cfg, url: 'gopher://x' }]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems[0]?.path === '/destinations/0/url', 'bad config names the path');
    await store.close();
  });
});
