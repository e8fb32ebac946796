import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import type { PortraitEvent } from '../core/event.ts';
import { SqliteEventLog, type EventLog } from '../log/index.ts';
import { SqliteStore, type DataKeyTable } from '../storage/index.ts';
import { serviceSkip, tempDatabase, tempNatsLog } from '../../test/support/services.ts';
import { tempDir } from '../../test/support/open.ts';
import { PostgresStore } from '../storage/index.ts';
import { DataKeys } from './data-keys.ts';
import { Keyring } from './keyring.ts';
import { SealedEventLog } from './sealed-event-log.ts';

const PII = ['email', 'phone', 'name'];
const EMAIL = 'alice.secret@example.com';
const PHONE = '+86-138-0013-8000';

/** An event as the log stores it (keys set to undefined are left out). */
const ev = (messageId: string, over: Partial<PortraitEvent> = {}): PortraitEvent => JSON.parse(JSON.stringify({
  type: 'identify',
  workspace: 'w',
  messageId,
  userId: 'alice',
  traits: { email: EMAIL, plan: 'pro', billing: { phone: PHONE, city: 'Shanghai' } },
  timestamp: 1000,
  receivedAt: 1000,
  ...over,
})) as PortraitEvent;

/** A table where `other` stores its key for `subject` between a writer's lookup and its insert. */
function racingTable(table: DataKeyTable, other: DataKeys, subject: string): DataKeyTable {
  return Object.assign(Object.create(table) as DataKeyTable, {
    get: (ws: string, subjects: readonly string[]) => table.get(ws, subjects),
    insertMissing: async (ws: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, at: number) => {
      await other.forWrite(ws, [subject]);
      return table.insertMissing(ws, rows, at);
    },
  });
}

function keysOver(table: DataKeyTable, ring = Keyring.generate()): DataKeys {
  return new DataKeys({ table, keyring: ring, hashKey: Buffer.alloc(32, 7), clock: new ManualClock(0) });
}

/** Appends alice's and bob's events; checks they read back opened, shreds alice, checks hers read without the fields and bob's intact. */
async function shredScenario(log: SealedEventLog, raw: () => Promise<string>): Promise<void> {
  const events = [ev('a1'), ev('b1', { userId: undefined, anonymousId: 'bob-anon', traits: { email: 'bob@example.com' } }), ev('a2', { type: 'track', event: 'Paid', traits: undefined, properties: { total: 5, email: EMAIL } })];
  const start = log.head();
  const mine = (rows: Array<{ record: { messageId: string } }>) => rows.filter((r) => events.some((e) => e.messageId === r.record.messageId));
  assert.deepEqual(await log.append(events), ['appended', 'appended', 'appended'], 'all appended');
  const stored = await raw();
  for (const plain of [EMAIL, PHONE, 'bob@example.com']) assert.ok(!stored.includes(plain), `the stored log holds no plaintext "${plain}"`);
  assert.ok(stored.includes('Shanghai') && stored.includes('pro'), 'fields that are not personal stay readable in the log');
  assert.deepEqual((await log.read(start, 10)).map((r) => r.record), events, 'read opens every sealed field');
  assert.deepEqual(mine(await log.eventsFor('w', { userIds: ['alice'], anonymousIds: [] })).map((r) => r.record), [events[0], events[2]], 'eventsFor opens too');

  const { destroyed } = await log.keys.destroy('w', ['user:alice', 'email:whatever']);
  assert.equal(destroyed, 1, "alice's one data key is destroyed; an identifier owning no events is ignored");
  const after = (await log.read(start, 10)).map((r) => r.record as PortraitEvent);
  assert.deepEqual(after[0]!.traits, { plan: 'pro', billing: { city: 'Shanghai' } }, "alice's personal fields are gone, the rest stays");
  assert.equal(after[0]!.context?.shredded, true, 'the event is marked shredded');
  assert.deepEqual(after[2]!.properties, { total: 5 }, "alice's track event lost its email property");
  assert.deepEqual(after[1], events[1], "bob's event is untouched");
  assert.equal(await raw(), stored, 'the stored bytes are the same: only the key went');
}

describe('sealed event log on SQLite', () => {
  it('stores no plaintext personal field, and after destroy neither the log nor a backup copy reads them', async () => {
    const { dir, cleanup } = tempDir('portrait-seal-');
    const store = new SqliteStore({ file: join(dir, 'state.db') });
    const keys = keysOver(store.dataKeys);
    const file = join(dir, 'log.db');
    const log = new SealedEventLog(new SqliteEventLog({ file }), keys, PII);
    const backup = join(dir, 'backup.db');
    const fileBytes = (f: string) => async () => ['', '-wal'].map((s) => (existsSync(f + s) ? readFileSync(f + s).toString('latin1') : '')).join('');
    try {
      await log.append([ev('a0')]);
      // A backup taken while the key exists (the WAL too: that is where recent appends live).
      copyFileSync(file, backup);
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${backup}-wal`);
      await shredScenario(log, fileBytes(file));
      const copy = new SealedEventLog(new SqliteEventLog({ file: backup }), keys, PII);
      try {
        const restored = (await copy.read(0, 10)).map((r) => r.record as PortraitEvent);
        assert.equal(restored.length, 1, 'the backup holds the event appended before it was taken');
        assert.deepEqual(restored[0]!.traits, { plan: 'pro', billing: { city: 'Shanghai' } }, 'the backup copy no longer reads the personal fields');
        assert.ok(!(await fileBytes(backup)()).includes(EMAIL), 'and never held them in plaintext');
      } finally {
        await copy.close();
      }
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      const state = await fileBytes(join(dir, 'state.db'))();
      assert.ok(!state.includes(keys.subjectOf('w', 'user:alice')), 'after a full checkpoint the destroyed key row is gone from the state file (zeroed, not just unlinked)');
    } finally {
      await log.close();
      await store.close();
      cleanup();
    }
  });

  it('passes records without personal fields through unchanged, unlink records included', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    const log = new SealedEventLog(new SqliteEventLog({ file: ':memory:' }), keysOver(store.dataKeys), PII);
    try {
      await log.append([ev('x', { traits: { plan: 'free' } }), { type: 'unlink', workspace: 'w', messageId: 'u', a: 'user:a', b: 'anon:b', timestamp: 1, receivedAt: 1 }]);
      assert.equal((store.keysDb.prepare('SELECT COUNT(*) AS n FROM data_keys').get() as { n: number }).n, 0, 'no data key is made for an event without personal fields');
      assert.deepEqual((await log.read(0, 10)).map((r) => r.record.messageId), ['x', 'u'], 'both records read back');
    } finally {
      await log.close();
      await store.close();
    }
  });
});

describe('sealed event log on NATS JetStream', { skip: await serviceSkip('NATS') }, () => {
  it('stores no plaintext personal field in the message bodies, and after destroy reads them no more', async () => {
    const { log: nats, dispose } = await tempNatsLog(2);
    const store = new SqliteStore({ file: ':memory:' });
    const log = new SealedEventLog(nats, keysOver(store.dataKeys), PII);
    try {
      // The message bodies as JetStream holds them, read past the decorator.
      await shredScenario(log, async () => JSON.stringify(await nats.read(0, 100)));
    } finally {
      await log.close();
      await store.close();
      await dispose();
    }
  });
});

describe('data keys on PostgreSQL', { skip: await serviceSkip('PostgreSQL') }, () => {
  it('creates one key per subject even when two nodes race, reads it back, and destroys it', async () => {
    const { url, drop } = await tempDatabase();
    const a = await PostgresStore.open({ url });
    const b = await PostgresStore.open({ url });
    try {
      const ring = Keyring.generate();
      const [ka, kb] = [keysOver(a.dataKeys, ring), keysOver(b.dataKeys, ring)];
      const subjects = ['user:1', 'user:2', 'anon:3'].map((i) => ka.subjectOf('w', i));
      const [x, y] = await Promise.all([ka.forWrite('w', subjects), kb.forWrite('w', subjects)]);
      for (const s of subjects) assert.ok(x.get(s)!.equals(y.get(s)!), 'both nodes use the same key for a subject');
      assert.equal((await a.dataKeys.get('w', subjects)).size, 3, 'three keys stored');
      assert.equal((await a.dataKeys.get('other', subjects)).size, 0, 'keys belong to one workspace');
      assert.equal((await ka.destroy('w', ['user:1'])).destroyed, 1, 'one destroyed');
      kb.forget('w', [subjects[0]!]);
      assert.equal((await kb.forRead('w', subjects)).has(subjects[0]!), false, 'the other node no longer finds it once told');
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });
});

test('data keys: the cache is bounded and expires, a destroyed subject gets a new key, and the table names nobody', async () => {
  const store = new SqliteStore({ file: ':memory:' });
  try {
    const clock = new ManualClock(0);
    const keys = new DataKeys({ table: store.dataKeys, keyring: Keyring.generate(), hashKey: Buffer.alloc(32, 1), clock, cacheSize: 2, ttlMs: 1000 });
    const s = ['user:1', 'user:2', 'user:3'].map((i) => keys.subjectOf('w', i));
    const first = await keys.forWrite('w', s);
    assert.equal(first.size, 3, 'three keys');
    const again = await keys.forWrite('w', s);
    for (const x of s) assert.ok(first.get(x)!.equals(again.get(x)!), 'get-or-create returns the existing key');
    // Delete a row behind the cache's back: only what is cached (at most 2, within the TTL) still opens.
    store.keysDb.prepare('DELETE FROM data_keys').run();
    assert.ok((await keys.forRead('w', s)).size <= 2, 'the cache holds at most cacheSize keys');
    clock.advance(1001);
    assert.equal((await keys.forRead('w', s)).size, 0, 'after the TTL the cache is not trusted');
    const renewed = await keys.forWrite('w', [s[0]!]);
    assert.ok(!renewed.get(s[0]!)!.equals(first.get(s[0]!)!), 'a subject whose key was destroyed gets a new key');
    const rows = JSON.stringify(store.keysDb.prepare('SELECT * FROM data_keys').all());
    assert.ok(!rows.includes('user:1') && rows.includes('pe1.'), 'rows hold a keyed hash and a sealed key, not the identifier or the raw key');
  } finally {
    await store.close();
  }
});

test('data keys: a key created here is the one stored, each subject has its own, and a key stored first by another writer wins', async () => {
  const store = new SqliteStore({ file: ':memory:' });
  try {
    const ring = Keyring.generate();
    const keys = keysOver(store.dataKeys, ring);
    const s = ['user:1', 'user:2', 'anon:3', 'user:4'].map((i) => keys.subjectOf('w', i));
    const created = await keys.forWrite('w', s);
    const reread = await keysOver(store.dataKeys, ring).forRead('w', s);
    for (const x of s) assert.ok(created.get(x)!.equals(reread.get(x)!), 'an uncached reader opens the same key from the table');
    assert.equal(new Set(s.map((x) => created.get(x)!.toString('hex'))).size, 4, 'four distinct keys');
    assert.ok(s.every((x) => created.get(x)!.length === 32), '32-byte keys');
    // Another writer stores its key between this one's lookup and its insert: this one must use the stored key.
    const other = keysOver(store.dataKeys, ring);
    const late = keys.subjectOf('w', 'user:5');
    const racing = racingTable(store.dataKeys, other, late);
    const mine = await keysOver(racing, ring).forWrite('w', [late]);
    const theirs = await other.forRead('w', [late]);
    assert.ok(mine.get(late)!.equals(theirs.get(late)!), 'the key stored first is the key used');
  } finally {
    await store.close();
  }
});

test('data keys: the keys forWrite creates are reported once stored, and a reader that learns them opens without a lookup', async () => {
  const store = new SqliteStore({ file: ':memory:' });
  try {
    const ring = Keyring.generate();
    const writer = keysOver(store.dataKeys, ring);
    const reported: Array<[string, string[]]> = [];
    const learner = keysOver(Object.assign(Object.create(store.dataKeys) as DataKeyTable, { get: () => Promise.reject(new Error('looked up')) }), ring);
    writer.onCreated((ws, keys) => {
      reported.push([ws, [...keys.keys()]]);
      learner.learn(ws, keys);
    });
    const [a, b, c] = ['user:1', 'user:2', 'anon:3'].map((i) => writer.subjectOf('w', i));
    await writer.forWrite('w', [a!]);
    const made = await writer.forWrite('w', [a!, b!, c!]);
    assert.deepEqual(reported, [['w', [a]], ['w', [b, c]]], 'each call reports only the keys it created, a key it found stored is not reported again');
    const read = await learner.forRead('w', [a!, b!, c!]);
    for (const x of [a!, b!, c!]) assert.ok(read.get(x)!.equals(made.get(x)!), 'the learned key is the one stored');
    learner.forget('w', [b!]);
    await assert.rejects(learner.forRead('w', [b!]), /looked up/, 'a forgotten key is looked up again');
    // A key another writer stored first is that writer's to report: this call reports nothing.
    const other = keysOver(store.dataKeys, ring);
    const late = writer.subjectOf('w', 'user:5');
    const racing = racingTable(store.dataKeys, other, late);
    const loser = keysOver(racing, ring);
    let lost = 0;
    loser.onCreated(() => lost++);
    await loser.forWrite('w', [late]);
    assert.equal(lost, 0, 'no key reported when the stored key is another writer’s');
  } finally {
    await store.close();
  }
});
