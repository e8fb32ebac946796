/**
 * The DestinationStore contract: one suite every backend that keeps webhook
 * destinations must pass (run by destinations.sqlite.test.ts and
 * destinations.postgres.test.ts), through the Destinations API and its
 * delivery worker: exactly-once delivery through failures, signatures,
 * backoff, dead letters and replay, filters, config-file destinations, two
 * delivery workers on one database, and audience export.
 */
import { strict as assert } from 'node:assert';
import { after, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../core/clock.ts';
import type { Json } from '../core/event.ts';
import { isPortraitError } from '../core/errors.ts';
import { changeset, profile } from '../storage/contract.ts';
import type { ValueSealer } from '../storage/sealer.ts';
import type { StateStore } from '../storage/store.ts';
import { startReceiver, type Receiver, type Responder } from '../../test/support/receiver.ts';
import type { DestinationStore } from './destination-store.ts';
import { Destinations, type DestinationsOptions } from './destinations.ts';
import type { DeliveryOptions } from './delivery-worker.ts';
import type { FetchLike } from './sender.ts';
import { verifySignature } from './signature.ts';

const T0 = Date.UTC(2026, 10, 1);
const SECRET = 'whsec_test_0123456789';
const OPTIONS: DeliveryOptions = { maxAttempts: 5, backoffBaseMs: 1000, backoffCapMs: 60_000, timeoutMs: 300, concurrency: 4, batchSize: 3, idleMs: 50 };

/** A database for one test: the state store (for profiles), its destination store, and more connections to it. */
export interface DestinationDatabase {
  state: StateStore;
  store: DestinationStore;
  /** Another connection to the same database, as another process would hold. */
  connect(): Promise<DestinationStore>;
  dispose(): Promise<void>;
}

export interface DestinationStoreFactory {
  /** A new, empty database; `sealer` seals personal values of the profiles the state store writes. */
  open(o?: { sealer?: ValueSealer }): Promise<DestinationDatabase>;
}

interface Setup {
  db: DestinationDatabase;
  d: Destinations;
  clock: ManualClock;
}

const codeOf = async (f: () => Promise<unknown>): Promise<string | undefined> => {
  try {
    await f();
  } catch (e) {
    if (isPortraitError(e)) return e.code;
    throw e;
  }
  return undefined;
};

/** A sealer for tests: a sealed value is `sealed:<base64 of its JSON>`, so a leak of plaintext shows. */
const testSealer: ValueSealer = {
  sealed: (field) => field === 'email',
  seal: (_w, _f, v) => `sealed:${Buffer.from(JSON.stringify(v)).toString('base64')}`,
  open: (_w, _f, stored) => (typeof stored === 'string' && stored.startsWith('sealed:') ? (JSON.parse(Buffer.from(stored.slice(7), 'base64').toString()) as Json) : stored),
};

export function destinationStoreContract(name: string, factory: DestinationStoreFactory, opts: { skip?: string | false } = {}): void {
  describe(`DestinationStore contract: ${name}`, { skip: opts.skip }, () => {
    let receiver: Receiver | undefined;
    let s: Setup;
    let respond: Responder = () => 200;
    const receiverUrl = async (path = '/hook') => {
      receiver ??= await startReceiver((r) => respond(r), 3000);
      return receiver.url + path;
    };
    const opened: DestinationDatabase[] = [];

    async function open(options: Partial<DeliveryOptions> = {}, more: Partial<DestinationsOptions> = {}): Promise<Setup> {
      const db = await factory.open();
      opened.push(db);
      const clock = new ManualClock(T0);
      // rng 0.5: half of each ceiling, so the schedule is exact.
      const d = await Destinations.open({ store: db.store, clock, delivery: { ...OPTIONS, ...options }, configured: [], defaultWorkspace: 'w', rng: () => 0.5, ...more });
      return { db, d, clock };
    }

    function notify(s: Setup, rows: Array<{ kind: string; profileId: string; segment?: string; tag?: string; workspace?: string }>, store = s.db.store): Promise<number[]> {
      return store.appendOutbox(
        rows.map((r, i) => ({
          workspace: r.workspace ?? 'w',
          kind: r.kind,
          profileId: r.profileId,
          payload: JSON.stringify({ ...(r.segment ? { segment: r.segment } : {}), ...(r.tag ? { tag: r.tag, source: 'rule' } : {}), time: s.clock.now(), reason: `test ${i}` }),
          position: i + 1,
          createdAt: s.clock.now(),
        })),
      );
    }

    /** Runs delivery passes, advancing the clock past every backoff, until nothing is pending. */
    async function deliverAll(s: Setup, maxPasses = 20): Promise<number> {
      for (let pass = 1; pass <= maxPasses; pass++) {
        await s.d.worker.runOnce();
        const due = await s.d.store.nextDueAt();
        if (due === undefined) return pass;
        s.clock.set(Math.max(s.clock.now() + 1, due));
      }
      assert.fail(`still pending after ${maxPasses} passes`);
    }

    beforeEach(() => {
      receiver?.received.splice(0);
      respond = () => 200;
    });
    after(async () => {
      await receiver?.close();
      for (const db of opened.splice(0)) await db.dispose();
    });

    it('delivers each notification exactly once in the end, through 500s and a timeout, signed, with a stable idempotency id', async () => {
      // A timeout long enough that a loaded machine does not time out the answered attempts.
      s = await open({ timeoutMs: 1500 });
      const seqById = new Map<string, number>();
      // First attempt: 500. Second: even outbox seqs time out, odd ones 503. Third: 200.
      respond = (r) => {
        const seq = seqById.get(r.deliveryId) ?? Number(r.deliveryId.split(':')[1]);
        seqById.set(r.deliveryId, seq);
        if (r.nth === 1) return 500;
        if (r.nth === 2) return seq % 2 === 0 ? 'hang' : 503;
        return 200;
      };
      const hook = await s.d.create('w', { id: 'hook', url: await receiverUrl(), secret: SECRET, kinds: ['segment.entered', 'segment.exited', 'profile.updated'] });
      assert.equal(hook.secret, SECRET, 'the secret is returned at creation');
      const seqs = await notify(s, [
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

      const log = (await s.d.deliveries('w', 'hook'));
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
    });

    it('records errors and backs off by the schedule between attempts', async () => {
      s = await open();
      respond = () => 500;
      await s.d.create('w', { id: 'down', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
      await notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
      await s.d.worker.runOnce();
      let dl = (await s.d.deliveries('w', 'down')).items[0]!;
      assert.equal(dl.attempts, 1, 'one attempt');
      assert.equal(dl.lastError, 'HTTP 500', 'the error is kept');
      assert.equal(dl.responseCode, 500, 'the response code is kept');
      // rng 0.5 → floor(0.5 × (1000 + 1)) = 500 ms after the first failure.
      assert.equal(dl.nextAttemptAt, T0 + 500, 'retry at half the first ceiling');
      s.clock.advance(499);
      assert.equal((await s.d.worker.runOnce()).attempts, 0, 'not due yet');
      s.clock.advance(1);
      await s.d.worker.runOnce();
      dl = (await s.d.deliveries('w', 'down')).items[0]!;
      assert.equal(dl.attempts, 2, 'second attempt when due');
      assert.equal(dl.nextAttemptAt, T0 + 500 + 1000, 'the ceiling doubled');
    });

    it('a refusing 4xx goes to the dead letters at once; 429 and 408 are retried', async () => {
      s = await open({ maxAttempts: 5 });
      respond = (r) => (r.path === '/gone' ? 410 : r.path === '/busy' ? 429 : 408);
      for (const id of ['gone', 'busy', 'slow']) await s.d.create('w', { id, url: await receiverUrl(`/${id}`), secret: SECRET, kinds: ['profile.updated'] });
      await notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
      await s.d.worker.runOnce();
      const gone = (await s.d.deliveries('w', 'gone')).items[0]!;
      assert.deepEqual([gone.status, gone.attempts, gone.responseCode, gone.nextAttemptAt], ['dead', 1, 410, null], 'a 410 is final after one attempt');
      assert.equal((await s.d.deadLetters('w', 'gone')).items.length, 1, 'and listed as a dead letter, to replay after a fix');
      for (const id of ['busy', 'slow']) {
        const dl = (await s.d.deliveries('w', id)).items[0]!;
        assert.deepEqual([dl.status, dl.attempts], ['pending', 1], `${id}: asked to come back later, so retried`);
        assert.ok(dl.nextAttemptAt !== null, `${id}: a retry is scheduled`);
      }
    });

    it('moves a delivery to the dead letters after the last attempt; a replay delivers it', async () => {
      s = await open({ maxAttempts: 3 });
      let up = false;
      respond = (r) => (r.path === '/flaky' && up ? 200 : 500);
      await s.d.create('w', { id: 'flaky', url: await receiverUrl('/flaky'), secret: SECRET, kinds: ['segment.entered'] });
      await notify(s, [
        { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
        { kind: 'segment.entered', profileId: 'p2', segment: 'vip' },
      ]);
      await deliverAll(s);
      assert.equal(receiver!.received.length, 6, 'three attempts each');
      const dead = await s.d.deadLetters('w', 'flaky');
      assert.equal(dead.items.length, 2, 'two dead letters');
      assert.equal(dead.items[0]!.attempts, 3, 'attempts recorded');
      assert.equal(dead.items[0]!.responseCode, 500, 'last response code recorded');
      assert.deepEqual((await s.d.deliveries('w', 'flaky', { status: 'dead' })).items.map((x) => x.status), ['dead', 'dead'], 'the log filters by status');
      assert.equal((await s.d.deliveries('w', 'flaky', { status: 'pending' })).items.length, 0, 'none pending');

      up = true;
      const one = dead.items[0]!.deliveryId;
      assert.deepEqual(await s.d.replay('w', 'flaky', one), { replayed: [one] }, 'one replayed');
      assert.equal(await codeOf(() => s.d.replay('w', 'flaky', one)), 'PORTRAIT_DEAD_LETTER_NOT_FOUND', 'a replayed letter cannot be replayed twice');
      await s.d.worker.runOnce();
      assert.equal((await s.d.deliveries('w', 'flaky', { status: 'delivered' })).items.length, 1, 'the replayed one is delivered');
      assert.equal((await s.d.replay('w', 'flaky')).replayed.length, 1, 'replay of all open dead letters');
      await s.d.worker.runOnce();
      assert.equal((await s.d.deliveries('w', 'flaky', { status: 'delivered' })).items.length, 2, 'both delivered');
      assert.equal((await s.d.deadLetters('w', 'flaky')).items.length, 0, 'no open dead letters');
      assert.equal((await s.d.deadLetters('w', 'flaky', { replayed: true })).items.length, 2, 'both kept as replayed');
      const successes = receiver!.successes();
      assert.deepEqual([...successes.values()], [1, 1], 'each delivered once');
    });

    it('a failure between creating deliveries and moving the cursor leaves neither; the next pass creates each once', async () => {
      s = await open();
      await s.d.create('w', { id: 'hook', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
      await notify(s, [1, 2, 3, 4, 5].map((i) => ({ kind: 'profile.updated', profileId: `p${i}` })));
      await assert.rejects(
        s.d.worker.dispatch(() => {
          throw new Error('crash before commit');
        }),
        /crash before commit/,
        'the injected failure surfaces',
      );
      assert.equal(await s.d.store.cursor('hook'), 0, 'the cursor did not move');
      assert.equal((await s.d.deliveries('w', 'hook')).items.length, 0, 'no delivery was kept');
      assert.equal(await s.d.worker.dispatch(), 5, 'five deliveries created');
      assert.equal(await s.d.worker.dispatch(), 0, 'none created twice');
      assert.equal(await s.d.store.cursor('hook'), 5, 'cursor at the last row');
    });

    it('filters by kind and segment; profile updates pass a segment filter by membership', async () => {
      s = await open();
      const url = await receiverUrl();
      await s.d.create('w', { id: 'vip', url, secret: SECRET, kinds: ['segment.entered', 'profile.updated'], segments: ['vip'] });
      await s.d.store.addMembers([{ workspace: 'w', segment: 'vip', profileId: 'p1', since: T0 }]);
      await notify(s, [
        { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
        { kind: 'segment.exited', profileId: 'p1', segment: 'vip' },
        { kind: 'segment.entered', profileId: 'p2', segment: 'churn' },
        { kind: 'profile.updated', profileId: 'p1' },
        { kind: 'profile.updated', profileId: 'p2' },
      ]);
      await s.d.worker.runOnce();
      const got = (await s.d.deliveries('w', 'vip')).items.map((x) => `${x.kind} ${x.profileId}`);
      assert.deepEqual(got, ['segment.entered p1', 'profile.updated p1'], 'only subscribed kinds of the vip segment and its members');
    });

    it('tag events reach destinations subscribed to their kinds; a segment filter does not hold them back', async () => {
      s = await open();
      const url = await receiverUrl();
      await s.d.create('w', { id: 'tags', url, secret: SECRET, kinds: ['tag.entered', 'tag.exited'], segments: ['vip'] });
      await s.d.create('w', { id: 'segs', url, secret: SECRET, kinds: ['segment.entered'] });
      await notify(s, [
        { kind: 'tag.entered', profileId: 'p1' },
        { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
        { kind: 'tag.exited', profileId: 'p2' },
      ]);
      await s.d.worker.runOnce();
      assert.deepEqual((await s.d.deliveries('w', 'tags')).items.map((x) => `${x.kind} ${x.profileId}`), ['tag.entered p1', 'tag.exited p2'], 'both tag events, no segment event');
      assert.deepEqual((await s.d.deliveries('w', 'segs')).items.map((x) => `${x.kind} ${x.profileId}`), ['segment.entered p1'], 'no tag event where not subscribed');
      assert.equal(await codeOf(() => s.d.create('w', { id: 'bad', url, secret: SECRET, kinds: ['tag.changed' as never] })), 'PORTRAIT_DESTINATION_INVALID', 'an unknown kind is refused');
    });

    it('a tag filter narrows tag events to the listed tags and those below them, and only tag events; it is stored and shown', async () => {
      const defined = ['value/high', 'value/low', 'interest/sports/football', 'interest/music'];
      s = await open({}, { tags: async () => defined });
      const url = await receiverUrl();
      const made = await s.d.create('w', { id: 'tf', url, secret: SECRET, kinds: ['tag.entered', 'tag.exited', 'segment.entered'], segments: ['vip'], tags: ['value/high', 'interest/sports'] });
      assert.deepEqual(made.tags, ['value/high', 'interest/sports'], 'shown at creation');
      await s.d.create('w', { id: 'all', url, secret: SECRET, kinds: ['tag.entered'] });
      await notify(s, [
        { kind: 'tag.entered', profileId: 'p1', tag: 'value/high' },
        { kind: 'tag.entered', profileId: 'p1', tag: 'interest/sports/football' },
        { kind: 'tag.entered', profileId: 'p1', tag: 'interest/music' },
        { kind: 'tag.exited', profileId: 'p2', tag: 'value/low' },
        { kind: 'tag.exited', profileId: 'p2', tag: 'value/high' },
        { kind: 'segment.entered', profileId: 'p3', segment: 'vip' },
        { kind: 'segment.entered', profileId: 'p3', segment: 'churn' },
      ]);
      await s.d.worker.runOnce();
      const got = async (id: string) => (await s.d.deliveries('w', id)).items.map((x) => `${x.kind} ${x.profileId} ${(JSON.parse(x.body) as { data: { tag?: string; segment?: string } }).data.tag ?? (JSON.parse(x.body) as { data: { segment?: string } }).data.segment}`);
      assert.deepEqual(
        await got('tf'),
        ['tag.entered p1 value/high', 'tag.entered p1 interest/sports/football', 'tag.exited p2 value/high', 'segment.entered p3 vip'],
        'the listed tags and those below them; segment events by the segment filter alone',
      );
      assert.equal((await got('all')).length, 3, 'no filter: every tag.entered');
      // Kept in the database: another connection reads the same filter, and a patch changes it.
      const other = await Destinations.open({ store: await s.db.connect(), clock: s.clock, delivery: OPTIONS, configured: [], defaultWorkspace: 'w', tags: async () => defined });
      assert.deepEqual((await other.get('w', 'tf')).tags, ['value/high', 'interest/sports'], 'read back from the store');
      assert.deepEqual((await s.d.update('w', 'tf', { tags: ['interest'] })).tags, ['interest'], 'a branch above defined tags');
      assert.deepEqual((await other.get('w', 'tf')).tags, ['interest'], 'the patch is stored');
      assert.equal((await other.get('w', 'all')).tags, null, 'no filter reads as null');
      await notify(s, [
        { kind: 'tag.entered', profileId: 'p4', tag: 'value/high' },
        { kind: 'tag.entered', profileId: 'p4', tag: 'interest/music' },
      ]);
      await s.d.worker.runOnce();
      assert.deepEqual((await got('tf')).slice(4), ['tag.entered p4 interest/music'], 'the changed filter applies to what follows');
    });

    it('a tag filter naming an unknown tag is refused with its path, over the API and in the config file', async () => {
      s = await open({}, { tags: async () => ['value/high', 'interest/sports/football'] });
      const url = await receiverUrl();
      const refused = async (f: () => Promise<unknown>): Promise<string[]> => {
        try {
          await f();
        } catch (e) {
          if (isPortraitError(e) && (e.code === 'PORTRAIT_DESTINATION_INVALID' || e.code === 'PORTRAIT_CONFIG_INVALID')) return e.problems.map((p) => `${p.path} ${p.message}`);
          throw e;
        }
        return assert.fail('expected a refusal');
      };
      const create = (tags: unknown) => refused(() => s.d.create('w', { id: 'x', url, secret: SECRET, kinds: ['tag.entered'], tags }));
      assert.deepEqual(await create(['value/high', 'interest/music']), ['/tags/1 unknown tag "interest/music": no tag of that name or below it is defined (defined: interest/sports/football, value/high)'], 'unknown, with its index');
      assert.match((await create(['value/hi']))[0]!, /^\/tags\/0 unknown tag "value\/hi"/, 'a prefix of a word is not a branch');
      assert.match((await create([]))[0]!, /^\/tags /, 'an empty list');
      assert.match((await create(['value/high', 'value/high']))[0]!, /^\/tags /, 'a tag twice');
      assert.deepEqual(await s.d.list('w'), [], 'nothing created');
      await s.d.create('w', { id: 'ok', url, secret: SECRET, kinds: ['tag.entered'], tags: ['value/high'] });
      assert.deepEqual(await refused(() => s.d.update('w', 'ok', { tags: ['nope'] })), ['/tags/0 unknown tag "nope": no tag of that name or below it is defined (defined: interest/sports/football, value/high)'], 'a bad patch');
      assert.deepEqual((await s.d.get('w', 'ok')).tags, ['value/high'], 'unchanged by the rejected patch');
      const cfg = { id: 'crm', url: 'https://crm.example/hook', secret: SECRET, kinds: ['tag.entered'], tags: ['value/high', 'value/low'] };
      const fromFile = Destinations.open({ store: s.db.store, clock: s.clock, delivery: OPTIONS, configured: [cfg], defaultWorkspace: 'w', tags: async () => ['value/high'] });
      assert.deepEqual(await refused(() => fromFile), ['/destinations/0/tags/1 unknown tag "value/low": no tag of that name or below it is defined (defined: value/high)'], 'the config file, with the path');
      assert.equal(await codeOf(() => s.d.get('w', 'crm')), 'PORTRAIT_DESTINATION_NOT_FOUND', 'not created');
    });

    it('health: per destination, what waits to be dispatched and delivered, since when, and the open dead letters', async () => {
      s = await open({ maxAttempts: 2 });
      let up = false;
      respond = (r) => (r.path === '/sick' && !up ? 500 : 200);
      await s.d.create('w', { id: 'sick', url: await receiverUrl('/sick'), secret: SECRET, kinds: ['segment.entered'] });
      await s.d.create('w', { id: 'paused', url: await receiverUrl('/paused'), secret: SECRET, kinds: ['segment.entered'], enabled: false });
      await s.d.create('v', { id: 'other', url: await receiverUrl('/other'), secret: SECRET, kinds: ['segment.entered'] });
      const of = async (id: string) => (await s.d.health()).find((h) => h.destination === id)!;
      assert.deepEqual((await s.d.health()).map((h) => [h.workspace, h.destination, h.enabled]), [['v', 'other', true], ['w', 'paused', false], ['w', 'sick', true]], 'every destination, by workspace and id');
      await notify(s, [
        { kind: 'segment.entered', profileId: 'p1', segment: 'vip' },
        { kind: 'profile.updated', profileId: 'p1' },
      ]);
      assert.deepEqual(await of('sick'), { destination: 'sick', workspace: 'w', enabled: true, pending: 0, oldestPendingAt: null, dead: 0, undispatched: 2 }, 'written, not yet dispatched');
      assert.equal((await of('other')).undispatched, 0, 'another workspace\'s notifications are not its own');
      s.clock.set(T0 + 1000);
      await s.d.worker.runOnce();
      const failing = await of('sick');
      assert.deepEqual([failing.pending, failing.oldestPendingAt, failing.dead, failing.undispatched], [1, T0 + 1000, 0, 0], 'dispatched (the update passed over by its kinds), one delivery waiting after a failure, since its creation');
      assert.equal((await of('paused')).undispatched, 2, 'a paused destination keeps its backlog');
      await deliverAll(s);
      assert.deepEqual([(await of('sick')).pending, (await of('sick')).dead], [0, 1], 'given up: a dead letter');
      up = true;
      await s.d.replay('w', 'sick');
      assert.equal((await of('sick')).pending, 1, 'a replay waits again');
      await s.d.worker.runOnce();
      assert.deepEqual([(await of('sick')).pending, (await of('sick')).dead], [0, 0], 'delivered: nothing waits, nothing open');
    });

    it('a new destination gets what is written after it; a paused one catches up when enabled', async () => {
      s = await open();
      const url = await receiverUrl();
      await notify(s, [{ kind: 'profile.updated', profileId: 'before' }]);
      await s.d.create('w', { id: 'late', url, secret: SECRET, kinds: ['profile.updated'], enabled: false });
      await notify(s, [{ kind: 'profile.updated', profileId: 'after' }]);
      await s.d.worker.runOnce();
      assert.equal(receiver!.received.length, 0, 'a paused destination receives nothing');
      assert.equal((await s.d.update('w', 'late', { enabled: true })).enabled, true, 'enabled');
      await s.d.worker.runOnce();
      assert.deepEqual((await s.d.deliveries('w', 'late')).items.map((x) => x.profileId), ['after'], 'only the notification written after creation');
      assert.equal(receiver!.received.length, 1, 'sent once');
    });

    it('the background loop delivers without explicit passes once woken, and stops cleanly', async () => {
      s = await open();
      await s.d.create('w', { id: 'live', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
      s.d.start();
      await notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
      s.d.wake();
      for (let i = 0; i < 200 && receiver!.successes().size === 0; i++) await new Promise((r) => setTimeout(r, 25));
      await s.d.stop();
      assert.deepEqual([...receiver!.successes().keys()], ['live:1'], 'delivered by the loop');
      await notify(s, [{ kind: 'profile.updated', profileId: 'p2' }]);
      s.d.wake();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(receiver!.received.length, 1, 'a stopped loop sends nothing');
    });

    it('rejects bad definitions with every problem, and unknown ids, wrong workspaces and duplicates with clear codes', async () => {
      s = await open();
      const problems = async (raw: unknown): Promise<string[]> => {
        try {
          await s.d.create('w', raw);
        } catch (e) {
          if (isPortraitError(e) && e.code === 'PORTRAIT_DESTINATION_INVALID') return e.problems.map((p) => p.path);
          throw e;
        }
        return assert.fail('expected PORTRAIT_DESTINATION_INVALID');
      };
      assert.deepEqual(await problems({ url: 'not a url', kinds: ['segment.entered'] }), ['/url'], 'unparseable URL');
      assert.deepEqual(await problems({ url: 'ftp://x.example/h', kinds: ['segment.entered'] }), ['/url'], 'not http(s)');
      assert.deepEqual((await problems({ url: 'https://x.example/h', kinds: ['segment.joined'], colour: 'red' })).sort(), ['/colour', '/kinds/0'].sort(), 'unknown kind and field');
      assert.deepEqual((await problems({ url: 'https://x.example/h', kinds: [], secret: 'short' })).sort(), ['/kinds', '/secret'].sort(), 'empty kinds and short secret');
      await s.d.create('w', { id: 'one', url: 'https://x.example/h', kinds: ['segment.entered'] });
      assert.equal(await codeOf(() => s.d.create('w', { id: 'one', url: 'https://x.example/h', kinds: ['segment.entered'] })), 'PORTRAIT_DESTINATION_EXISTS', 'duplicate id');
      assert.equal(await codeOf(() => s.d.get('other', 'one')), 'PORTRAIT_DESTINATION_NOT_FOUND', 'another workspace cannot see it');
      assert.equal(await codeOf(() => s.d.deliveries('w', 'nope')), 'PORTRAIT_DESTINATION_NOT_FOUND', 'unknown id');
      assert.equal(await codeOf(() => s.d.update('w', 'one', { url: 'mailto:x@y' })), 'PORTRAIT_DESTINATION_INVALID', 'bad patch');
      assert.equal(await codeOf(() => s.d.replay('w', 'one', 'one:99')), 'PORTRAIT_DEAD_LETTER_NOT_FOUND', 'unknown dead letter');
      assert.equal((await s.d.get('w', 'one')).url, 'https://x.example/h', 'unchanged by the rejected patch');
      assert.equal('secret' in (await s.d.get('w', 'one')), false, 'the secret is not shown after creation');
      await s.d.remove('w', 'one');
      assert.deepEqual(await s.d.list('w'), [], 'removed');
    });

    it('config-file destinations are created, updated and removed with the file, and cannot be changed over the API', async () => {
      const db = await factory.open();
      opened.push(db);
      const clock = new ManualClock(T0);
      const cfg = { id: 'crm', url: 'https://crm.example/hook', secret: SECRET, kinds: ['segment.entered'] };
      const mk = (configured: unknown[]) => Destinations.open({ store: db.store, clock, delivery: OPTIONS, configured, defaultWorkspace: 'w' });
      let d = await mk([cfg]);
      assert.equal((await d.get('w', 'crm')).source, 'config', 'created from the config');
      assert.equal(await codeOf(() => d.update('w', 'crm', { enabled: false })), 'PORTRAIT_DESTINATION_FROM_CONFIG', 'read-only over the API');
      // Two processes starting together on one database both make the file's destinations exist.
      const [a, b] = await Promise.all([mk([{ ...cfg, url: 'https://crm.example/v2' }]), Destinations.open({ store: await db.connect(), clock, delivery: OPTIONS, configured: [{ ...cfg, url: 'https://crm.example/v2' }], defaultWorkspace: 'w' })]);
      assert.equal((await a.get('w', 'crm')).url, 'https://crm.example/v2', 'updated with the file');
      assert.deepEqual(await b.list('w'), await a.list('w'), 'both processes see one destination');
      d = await mk([]);
      assert.deepEqual(await d.list('w'), [], 'removed with the file');
      await assert.rejects(mk([{ ...cfg, url: 'gopher://x' }]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems[0]?.path === '/destinations/0/url', 'bad config names the path');
    });

    it('two delivery workers on one database never deliver a notification twice, whatever the failures and interleaving', async () => {
      // No receiver here hangs, so no attempt should time out: a generous request timeout keeps a slow
      // machine from turning an answered request into a timed-out attempt (sent again by design).
      const delivery = { ...OPTIONS, timeoutMs: 30_000 };
      // Each worker's sends wait up to 31 ms, chosen by the run's seed (one worker may be much slower than the other),
      // so one worker's pass often runs while the other's requests are still in flight.
      let delaySeed = 0;
      const delayed =
        (shift: number): FetchLike =>
        async (url, init) => {
          await new Promise((r) => setTimeout(r, (delaySeed >>> shift) & 31));
          return fetch(url, init);
        };
      s = await open(delivery, { fetch: delayed(0) });
      const other = await Destinations.open({ store: await s.db.connect(), clock: s.clock, delivery, configured: [], defaultWorkspace: 'w', rng: () => 0.5, fetch: delayed(5) });
      const workers = [s.d.worker, other.worker];
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          fc.array(fc.constantFrom('a', 'b', 'both'), { minLength: 4, maxLength: 12 }),
          async (batches, seed, turns) => {
            const id = `pair${run++}`;
            // Fails a first or second attempt for some notifications (chosen by the seed), then succeeds: all arrive in the end.
            respond = (r) => (r.path !== `/${id}` ? 500 : r.nth <= ((seed >> Number(r.deliveryId.split(':')[1]) % 16) & 3) % 3 ? 500 : 200);
            await s.d.create('w', { id, url: await receiverUrl(`/${id}`), secret: SECRET, kinds: ['profile.updated'] });
            delaySeed = seed;
            const seqs: number[] = [];
            let turn = 0;
            let passing = 0;
            const step = async () => {
              const t = turns[turn++ % turns.length]!;
              passing++;
              try {
                await Promise.all(t === 'both' ? workers.map((w) => w.runOnce()) : [workers[t === 'a' ? 0 : 1]!.runOnce()]);
              } finally {
                passing--;
              }
              // Time jumps to the next backoff only while no pass is sending: a claim's lease (the request timeout and 5 s)
              // cannot run out under a request still in flight in real time, but a jump could skip past it here.
              const due = passing === 0 ? await s.d.store.nextDueAt() : undefined;
              if (due !== undefined) s.clock.set(Math.max(s.clock.now() + 1, due));
            };
            // Notifications arrive (through either connection) while the workers run.
            for (const [i, n] of batches.entries()) {
              seqs.push(...(await notify(s, Array.from({ length: n }, (_, k) => ({ kind: 'profile.updated', profileId: `p${i}-${k}` })), i % 2 === 0 ? s.db.store : other.store)));
              await Promise.all([step(), step()]);
            }
            for (let i = 0; i < 40 && (await s.d.store.nextDueAt()) !== undefined; i++) await Promise.all(workers.map((w) => w.runOnce())).then(step);
            const mine = receiver!.received.filter((r) => r.path === `/${id}`);
            const expected = seqs.map((q) => `${id}:${q}`).sort();
            const successes = new Map<string, number>();
            for (const r of mine) if (r.answer === 200) successes.set(r.deliveryId, (successes.get(r.deliveryId) ?? 0) + 1);
            assert.deepEqual([...successes.keys()].sort(), expected, 'every notification arrived');
            for (const [dl, n] of successes) assert.equal(n, 1, `${dl} answered 2xx exactly once`);
            const log = (await s.d.deliveries('w', id, { limit: 1000 })).items;
            assert.deepEqual(log.map((x) => x.id).sort(), expected, 'one delivery per notification');
            for (const x of log) {
              assert.equal(x.status, 'delivered', `${x.id} delivered`);
              // Each request sent was one claim with its outcome recorded: two senders of one claim would show as more requests than attempts.
              assert.equal(mine.filter((r) => r.deliveryId === x.id).length, x.attempts, `${x.id}: requests received = attempts recorded`);
            }
          },
        ),
        { numRuns: 6 },
      );
    });

    it('outbox rows committed concurrently by several connections while a destination dispatches are each turned into one delivery', async () => {
      s = await open({ batchSize: 2 });
      await s.d.create('w', { id: 'busy', url: 'http://127.0.0.1:9/paused', secret: SECRET, kinds: ['profile.updated'], enabled: true });
      const writers = [s.db.store, await s.db.connect(), await s.db.connect()];
      const seqs: number[] = [];
      let writing = true;
      const write = Promise.all(
        writers.map(async (w, k) => {
          for (let i = 0; i < 15; i++) seqs.push(...(await notify(s, [{ kind: 'profile.updated', profileId: `w${k}-${i}` }, { kind: 'profile.updated', profileId: `w${k}-${i}b` }], w)));
        }),
      ).finally(() => (writing = false));
      // Dispatch (without sending) while the writers commit: a cursor must never pass a row committed later.
      while (writing) await s.d.worker.dispatch();
      await write;
      await s.d.worker.dispatch();
      const made = (await s.d.deliveries('w', 'busy', { limit: 1000 })).items.map((x) => x.outboxSeq);
      assert.deepEqual([...made].sort((a, b) => a - b), [...seqs].sort((a, b) => a - b), 'every row once');
    });

    it('a claim of a sender that died expires: another sender delivers it once, and a late outcome of the lost claim changes nothing', async () => {
      s = await open();
      await s.d.create('w', { id: 'hook', url: await receiverUrl(), secret: SECRET, kinds: ['profile.updated'] });
      await notify(s, [{ kind: 'profile.updated', profileId: 'p1' }]);
      await s.d.worker.dispatch();
      const lease = OPTIONS.timeoutMs + 5_000;
      // The first sender claims it and dies before sending.
      const [lost] = await s.db.store.claimDue(s.clock.now(), 10, lease);
      assert.ok(lost, 'claimed');
      const other = await Destinations.open({ store: await s.db.connect(), clock: s.clock, delivery: OPTIONS, configured: [], defaultWorkspace: 'w' });
      assert.equal((await other.worker.runOnce()).attempts, 0, 'another sender leaves it while the claim lasts');
      assert.equal(receiver!.received.length, 0, 'nothing sent meanwhile');
      s.clock.advance(lease);
      assert.equal((await other.worker.runOnce()).attempts, 1, 'sent once the claim expired');
      assert.deepEqual([...receiver!.successes()], [['hook:1', 1]], 'delivered once');
      // The first sender wakes up late and reports a failure of its lost claim.
      await s.db.store.failed(lost, 500, 'HTTP 500', s.clock.now(), null);
      const [dl] = (await s.d.deliveries('w', 'hook')).items;
      assert.deepEqual([dl?.status, dl?.attempts, dl?.responseCode], ['delivered', 1, 200], 'the late outcome of the lost claim is ignored');
      assert.deepEqual((await s.d.deadLetters('w', 'hook')).items, [], 'and made no dead letter');
    });

    it('exports a segment page by page with personal values opened by the store sealer', async () => {
      const db = await factory.open({ sealer: testSealer });
      opened.push(db);
      const email = { v: 'ann@example.com', t: T0, id: 'm1' };
      const city = { v: 'Lima, Peru', t: T0, id: 'm1' };
      const docs = ['a', 'b', 'c', 'd', 'e'].map((id) => profile(id, { attributes: { email: { ...email, v: `${id}@example.com` }, city } }));
      await db.state.commit(changeset({ position: 1, profiles: docs }));
      await db.store.addMembers([...docs.map((p, i) => ({ workspace: 'w', segment: 'vip', profileId: p.id, since: T0 + i })), { workspace: 'w', segment: 'vip', profileId: 'gone', since: T0 }, { workspace: 'x', segment: 'vip', profileId: 'a', since: T0 }]);
      const [raw] = await db.store.membersPage('w', 'vip', '', 1);
      assert.ok(raw?.doc && !raw.doc.includes('a@example.com') && raw.doc.includes('sealed:'), 'the table holds the email sealed');
      const d = await Destinations.open({ store: db.store, clock: new ManualClock(T0), delivery: OPTIONS, configured: [], defaultWorkspace: 'w', sealer: testSealer });
      const chunks: string[] = [];
      for await (const c of d.exportSegment('w', 'vip', { format: 'csv', fields: ['email', 'city'], pageSize: 2 })) chunks.push(c);
      assert.equal(chunks.length, 1 + 3, 'a header, then one chunk per page of two (six members)');
      const lines = chunks.join('').trimEnd().split('\r\n');
      assert.equal(lines[0], 'profile_id,identifiers,member_since,email,city', 'header');
      assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]), ['a', 'b', 'c', 'd', 'e', 'gone'], 'every member once, in id order, of this workspace only');
      assert.equal(lines[1], `a,user:a,${new Date(T0).toISOString()},a@example.com,"Lima, Peru"`, 'opened personal value, quoted comma');
      assert.equal(lines[6], `gone,,${new Date(T0).toISOString()},,`, 'a member without a profile has empty columns');
      const nd: string[] = [];
      for await (const c of d.exportSegment('w', 'vip', { format: 'ndjson', fields: ['email'], mask: (_f, v) => (typeof v === 'string' ? v.replace(/^[^@]+/, '***') : v) })) nd.push(c);
      const first = JSON.parse(nd.join('').split('\n')[0]!) as { profileId: string; attributes: Record<string, Json> };
      assert.deepEqual(first, { profileId: 'a', identifiers: ['user:a'], memberSince: new Date(T0).toISOString(), attributes: { email: '***@example.com' } }, 'ndjson, masked');
    });
  });
}
