import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { logEvent as ev } from '../contract.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';

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
});
