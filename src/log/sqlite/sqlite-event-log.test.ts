import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Json, JsonObject, PortraitEvent } from '../../core/event.ts';
import { logEvent as ev } from '../contract.ts';
import { keptByRetention } from '../event-log.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';

/** A field that may hold a decision object, or something else in its place. */
const maybeDecision = fc.option(fc.oneof<fc.Arbitrary<Json>[]>(fc.constant({ marketing: true }), fc.constant({}), fc.string(), fc.integer(), fc.constant(null), fc.constant([{ a: 1 }])), { nil: undefined });
const decisionShaped = fc.record({
  type: fc.constantFrom('track', 'identify', 'page', 'group'),
  consent: maybeDecision,
  tags: maybeDecision,
  traitsConsent: maybeDecision,
});

describe('SqliteEventLog', () => {
  it('assigns increasing positions and reads back in order', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    assert.deepEqual(await log.append([ev('a'), ev('b')]), ['appended', 'appended']);
    assert.deepEqual(await log.append([ev('c')]), ['appended']);
    const all = await log.read(0, 10);
    assert.deepEqual(all.map((r) => [r.position, r.record.messageId]), [[1, 'a'], [2, 'b'], [3, 'c']]);
    assert.deepEqual((await log.read(2, 10)).map((r) => r.position), [3]);
    assert.equal(log.head(), 3);
    await log.close();
  });

  it('deduplicates by workspace and messageId, within one call and across calls', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    assert.deepEqual(await log.append([ev('a'), ev('a'), ev('a', { workspace: 'other' })]), ['appended', 'duplicate', 'appended']);
    assert.deepEqual(await log.append([ev('a')]), ['duplicate']);
    assert.equal(log.count(), 2);
    await log.close();
  });

  it('groups concurrent appends into one transaction and resolves each with its own outcomes', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    let notified = 0;
    log.onAppend(() => notified++);
    const results = await Promise.all([log.append([ev('a')]), log.append([ev('b'), ev('a')]), log.append([ev('c')])]);
    assert.deepEqual(results, [['appended'], ['appended', 'duplicate'], ['appended']]);
    assert.equal(notified, 1);
    await log.close();
  });

  it('forgets deduplication keys older than the window', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.append([ev('a', { receivedAt: 100 }), ev('b', { receivedAt: 300 })]);
    assert.equal(await log.expireDedup(200), 1);
    assert.deepEqual(await log.append([ev('a'), ev('b')]), ['appended', 'duplicate']);
    await log.close();
  });

  it('finds a profile’s events by user ids, and by anonymous ids only for events without a user id', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.append([
      ev('1', { userId: 'u1', anonymousId: 'a1' }),
      ev('2', { userId: undefined, anonymousId: 'a1' }),
      ev('3', { userId: 'u2', anonymousId: 'a1' }),
      ev('4', { userId: 'u1', workspace: 'other' }),
    ]);
    const got = await log.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] });
    assert.deepEqual(got.map((r) => r.record.messageId), ['1', '2']);
    assert.deepEqual((await log.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] }, { upTo: 1 })).map((r) => r.record.messageId), ['1']);
    await log.close();
  });

  it('never reuses a position, even after the newest records are deleted', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'log-'));
    const file = join(dir, 'log.db');
    const log = new SqliteEventLog({ file });
    await log.append([ev('a'), ev('b')]);
    await log.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(file);
    db.prepare('DELETE FROM log WHERE position = 2').run();
    db.close();
    const again = new SqliteEventLog({ file });
    await again.append([ev('c')]);
    assert.deepEqual((await again.read(0, 10)).map((r) => r.position), [1, 3]);
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects appends after close with a typed error', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.close();
    await assert.rejects(log.append([ev('a')]), (e: unknown) => (e as { code?: string }).code === 'PORTRAIT_CLOSED');
  });

  it('erase deletes the events attributed to the ids and unlinks naming them, strips the ids from other events, and never reuses positions', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.append([
      ev('p1', { userId: 'gone' }),
      ev('p2', { userId: undefined, anonymousId: 'gone-anon' }),
      ev('o1', { userId: 'other', anonymousId: 'gone-anon' }),
      ev('o2', { type: 'alias', userId: 'other', previousId: 'gone' }),
      ev('o3', { userId: 'other', anonymousId: 'other-anon' }),
      ev('x1', { userId: 'gone', workspace: 'elsewhere' }),
    ]);
    await log.append([{ type: 'unlink', workspace: 'w', messageId: 'un', a: 'user:gone', b: 'anon:z', timestamp: 1, receivedAt: 1 }]);
    await log.append([ev('p3', { userId: 'gone' })]);
    const r = await log.erase('w', { userIds: ['gone'], anonymousIds: ['gone-anon'], identKeys: ['user:gone', 'anon:gone-anon'] }, 7);
    assert.deepEqual(r, { deleted: 3, redacted: 2 }, 'p1, p2 and the unlink deleted (p3, at 8, is past upTo); o1 and o2 redacted');
    const left = await log.read(0, 100);
    assert.deepEqual(left.map((x) => x.record.messageId), ['o1', 'o2', 'o3', 'x1', 'p3'], 'the rest stays, in order');
    const text = JSON.stringify(left.filter((x) => x.record.workspace === 'w' && x.record.messageId !== 'p3'));
    assert.ok(!text.includes('gone'), 'no remaining event of the workspace up to upTo names the erased ids');
    assert.equal((await log.eventsFor('w', { userIds: ['other'], anonymousIds: [] })).length, 3, "the other user's events still read");
    assert.deepEqual(await log.append([ev('new')]), ['appended'], 'appends go on');
    assert.equal(log.head(), 9, 'positions continue after the high-water mark');
    await log.close();
  });

  it('retention keeps in SQL exactly the records keptByRetention keeps, for any shape of the decision fields', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(decisionShaped, { maxLength: 25 }), async (shapes) => {
        const log = new SqliteEventLog({ file: ':memory:' });
        try {
          const records = shapes.map((x, i): PortraitEvent => {
            const context: JsonObject = {};
            if (x.consent !== undefined) context.consent = x.consent;
            if (x.tags !== undefined) context.portraitTags = x.tags;
            return ev(`m${i}`, { type: x.type, event: x.type === 'track' ? 'x' : undefined, timestamp: 1, context, ...(x.traitsConsent !== undefined ? { traits: { consent: x.traitsConsent } } : {}) });
          });
          await log.append(records);
          await log.purge({ before: 1_000 });
          assert.deepEqual((await log.read(0, 100)).map((r) => r.record.messageId), records.filter(keptByRetention).map((r) => r.messageId));
        } finally {
          await log.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
