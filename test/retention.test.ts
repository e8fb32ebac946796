/** Retention through Portrait: purges, the retention log, inactive profiles, the scheduler, and rebuild after a purge. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DAY } from '../src/core/clock.ts';
import type { ConfigInput } from '../src/config/index.ts';
import { Portrait } from '../src/index.ts';
import { ManualClock } from '../src/core/clock.ts';
import { T0 } from './support/open.ts';

const TRAITS = [{ name: 'views', kind: 'count', filter: { event: 'View' } }];

async function open(retention: object, deleted?: Array<[string, string]>, extra: ConfigInput = {}): Promise<{ p: Portrait; clock: ManualClock }> {
  const clock = new ManualClock(T0);
  const p = await Portrait.open(
    { identity: { hashKey: '00'.repeat(32) }, traits: TRAITS, privacy: { retention }, ...extra },
    { memory: true, clock, deleteProfile: deleted && (async (w, id) => void deleted.push([w, id])) },
  );
  return { p, clock };
}

const view = (id: string, user: string, daysAgo: number, event = 'View') => ({ type: 'track', messageId: id, userId: user, event, timestamp: new Date(T0 - daysAgo * DAY).toISOString() });

describe('retention', () => {
  it('purges events older than a rule, logs the purge without personal data, and keeps the aggregates', async () => {
    const { p } = await open({ rules: [{ event: 'View', days: 30 }] });
    try {
      await p.ingest([view('v1', 'alice@example.com', 40), view('v2', 'alice@example.com', 35), view('v3', 'alice@example.com', 1), view('b1', 'alice@example.com', 40, 'Buy')]);
      await p.drain();
      const dry = await p.runRetention({ dryRun: true });
      assert.deepEqual(dry.events.map((e) => [e.workspace, e.purged]), [['default', 2]], 'a dry run counts the two old views');
      assert.deepEqual(await p.retentionLog(), [], 'a dry run writes no log row');
      assert.equal((await p.events('user_id', 'alice@example.com')).events.length, 4, 'a dry run deletes nothing');

      const report = await p.runRetention();
      assert.deepEqual(report.events.map((e) => [e.workspace, e.purged]), [['default', 2]], 'two purged');
      assert.deepEqual((await p.events('user_id', 'alice@example.com')).events.map((e) => e.record.messageId).sort(), ['b1', 'v3'], 'the old Buy stays (no rule for it), the recent view stays');
      assert.equal((await p.profile('user_id', 'alice@example.com'))?.traits.views, 3, 'the profile keeps the aggregate computed from the purged events');
      const log = await p.retentionLog();
      assert.equal(log.length, 1, 'one log row');
      assert.deepEqual({ ...log[0], id: 0 }, { id: 0, time: T0, workspace: 'default', kind: 'events', rule: JSON.stringify({ event: 'View', days: 30 }), purged: 2 }, 'the row: time, rule, count');
      assert.ok(!JSON.stringify(log).includes('alice'), 'the log holds no personal data');
      assert.deepEqual((await p.runRetention()).events.map((e) => e.purged), [0], 'a second pass finds nothing');

      // A rebuild recomputes from what the log still holds: the purged views no longer count.
      await p.rebuild();
      assert.equal((await p.profile('user_id', 'alice@example.com'))?.traits.views, 1, 'after a rebuild, only the kept view counts');
    } finally {
      await p.close();
    }
  });

  it('keeps events the engine has not folded yet, and rules stay within their workspace', async () => {
    const { p } = await open({ rules: [{ workspace: 'shop', days: 10 }] });
    try {
      await p.ingest([view('s1', 'u1', 20)], { workspace: 'shop' });
      await p.ingest([view('o1', 'u1', 20)], { workspace: 'blog' });
      await p.drain();
      await p.runRetention();
      assert.equal((await p.events('user_id', 'u1', { workspace: 'shop' })).events.length, 0, "shop's old event is purged");
      assert.equal((await p.events('user_id', 'u1', { workspace: 'blog' })).events.length, 1, "blog's is not");
      assert.equal((await p.retentionLog({ workspace: 'blog' })).length, 0, "blog's log does not show shop's purge");
      assert.equal((await p.retentionLog({ workspace: 'shop' }))[0]?.purged, 1, "shop's log does");
    } finally {
      await p.close();
    }
  });

  it('hands inactive profiles to the injected deletion, and only counts them when none is wired', async () => {
    const deleted: Array<[string, string]> = [];
    const { p, clock } = await open({ inactiveProfileDays: 90 }, deleted);
    try {
      await p.ingest([view('a', 'old', 200), view('b', 'recent', 5)]);
      await p.drain();
      const oldId = (await p.profile('user_id', 'old'))!.id;
      assert.deepEqual((await p.runRetention({ dryRun: true })).profiles, [{ workspace: 'default', purged: 1 }], 'a dry run selects one');
      assert.deepEqual(deleted, [], 'a dry run deletes nothing');
      await p.runRetention();
      assert.deepEqual(deleted, [['default', oldId]], 'the inactive profile is handed over, the recent one is not');
      clock.advance(100 * DAY);
      deleted.length = 0;
      await p.runRetention();
      assert.equal(deleted.length, 2, 'a hundred days later both are inactive (the fake deletes nothing, so the old one is selected again)');
      assert.deepEqual((await p.retentionLog()).map((r) => [r.kind, r.purged]), [['profiles', 2], ['profiles', 1]], 'each pass is logged');
    } finally {
      await p.close();
    }
    const unwired = await open({ inactiveProfileDays: 90 });
    try {
      await unwired.p.ingest([view('a', 'old', 200)]);
      await unwired.p.drain();
      const r = await unwired.p.runRetention();
      assert.match(r.profilesSkipped ?? '', /no profile deletion is wired/, 'without a deletion the report says so');
      assert.ok((await unwired.p.profile('user_id', 'old')) !== undefined, 'and the profile is kept');
    } finally {
      await unwired.p.close();
    }
  });

  it('the scheduler runs passes on its own period', async () => {
    const { p } = await open({ rules: [{ days: 1 }], intervalMinutes: 0.001 });
    try {
      await p.ingest([view('x', 'u', 5)]);
      await p.drain();
      const deadline = Date.now() + 20_000;
      while ((await p.retentionLog()).every((r) => r.purged === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok((await p.retentionLog()).some((r) => r.purged === 1), 'a scheduled pass purged the old event');
    } finally {
      await p.close();
    }
  });

  it('refuses an invalid retention configuration with the problems listed', async () => {
    await assert.rejects(open({ rules: [{ days: 0, type: 'nope' }], intervalMinutes: 0 }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'PORTRAIT_CONFIG_INVALID', 'a configuration error');
      for (const path of ['/privacy/retention/rules/0/days', '/privacy/retention/rules/0/type', '/privacy/retention/intervalMinutes']) assert.ok(e.message?.includes(path), `names ${path}`);
      return true;
    });
  });
});
