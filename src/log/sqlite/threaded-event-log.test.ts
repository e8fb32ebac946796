import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { logEvent as trackEvent } from '../contract.ts';
import { isPortraitError } from '../../core/errors.ts';
import { ThreadedEventLog } from './threaded-event-log.ts';

const ev = trackEvent;

const dirs: string[] = [];
const file = () => {
  const d = mkdtempSync(join(tmpdir(), 'portrait-tlog-'));
  dirs.push(d);
  return join(d, 'log.db');
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('ThreadedEventLog (appends in a writer thread)', () => {
  it('appends, deduplicates, reads back and reports the head, like the in-thread log', async () => {
    const log = await ThreadedEventLog.open({ file: file() });
    try {
      let notified = 0;
      log.onAppend(() => notified++);
      assert.deepEqual(await log.append([ev('a'), ev('b', { userId: 'v' })]), ['appended', 'appended'], 'first append');
      assert.deepEqual(await log.append([ev('a'), ev('c')]), ['duplicate', 'appended'], 'a duplicate is acknowledged, not stored');
      assert.equal(log.head(), 3, 'head after two appends');
      assert.ok(notified >= 1, 'listeners hear of durable appends');
      assert.deepEqual((await log.read(0, 10)).map((r) => [r.position, r.record.messageId]), [[1, 'a'], [2, 'b'], [3, 'c']], 'read in order');
      const forU = await log.eventsFor('w', { userIds: ['u'], anonymousIds: [] });
      assert.deepEqual(forU.map((r) => r.record.messageId), ['a', 'c'], 'events of one user');
      assert.equal(await log.expireDedup(2), 3, 'every key received before time 2 is forgotten');
      assert.deepEqual(await log.append([ev('a')]), ['appended'], 'after expiry the id is new again');
    } finally {
      await log.close();
    }
  });

  it('keeps positions across reopen, and concurrent appends get distinct increasing positions', async () => {
    const f = file();
    const first = await ThreadedEventLog.open({ file: f });
    const batches = Array.from({ length: 20 }, (_, i) => Array.from({ length: 50 }, (_, j) => ev(`m${i}_${j}`)));
    const outcomes = await Promise.all(batches.map((b) => first.append(b)));
    assert.ok(outcomes.every((o) => o.every((x) => x === 'appended')), 'every concurrent message appended');
    assert.equal(first.head(), 1000, 'head after 1,000 messages');
    await first.close();
    const again = await ThreadedEventLog.open({ file: f });
    try {
      assert.equal(again.head(), 1000, 'head survives reopen');
      const all = await again.read(0, 2000);
      assert.deepEqual(all.map((r) => r.position), Array.from({ length: 1000 }, (_, i) => i + 1), 'positions are 1..1000 without gaps');
      assert.equal(new Set(all.map((r) => r.record.messageId)).size, 1000, 'each message once');
    } finally {
      await again.close();
    }
  });

  it('a log that cannot be opened is a typed storage error, not a crash', async () => {
    await assert.rejects(
      ThreadedEventLog.open({ file: join(tmpdir(), 'portrait-no-such-dir', 'deeper', 'log.db') }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED' && /opening the event log/.test(e.message),
      'open in a missing directory',
    );
  });

  it('a closed log refuses appends with a typed error', async () => {
    const log = await ThreadedEventLog.open({ file: file() });
    await log.close();
    await assert.rejects(
      log.append([ev('late')]),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CLOSED',
      'append after close',
    );
  });
});
