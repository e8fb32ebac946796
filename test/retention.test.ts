/** Retention through Portrait: purges, the retention log, inactive profiles, the scheduler, and rebuild after a purge. */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { DAY } from '../src/core/clock.ts';
import type { ConfigInput } from '../src/config/index.ts';
import { Portrait } from '../src/index.ts';
import { ManualClock } from '../src/core/clock.ts';
import { buildServer } from '../src/server/app.ts';
import { tempDir, T0 } from './support/open.ts';

const TRAITS = [{ name: 'views', kind: 'count', filter: { event: 'View' } }];

type RetentionInput = NonNullable<NonNullable<ConfigInput['privacy']>['retention']>;

async function open(retention: RetentionInput, deleted?: Array<[string, string]>, extra: ConfigInput = {}): Promise<{ p: Portrait; clock: ManualClock }> {
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

  it('keeps consent and manual tag decisions past every rule, so a rebuild after a purge repeats them', async () => {
    const { p, clock } = await open({ rules: [{ days: 30 }] }, undefined, { tags: [{ name: 'crm/callback' }], segments: [{ name: 'reachable', condition: 'consent.marketing = true' }] });
    try {
      clock.set(T0 - 60 * DAY);
      await p.ingest([view('old', 'u1', 60), { type: 'identify', userId: 'u1', messageId: 'grant', timestamp: new Date(T0 - 60 * DAY).toISOString(), traits: { consent: { marketing: true }, city: 'Lima' } }]);
      await p.drain();
      await p.segments.tag('crm/callback', 'user_id', 'u1', true);
      await p.setConsent('user_id', 'u1', { analytics: true });
      await p.drain();
      clock.set(T0);
      const report = await p.runRetention();
      assert.deepEqual(report.events.map((e) => [e.workspace, e.purged]), [['default', 1]], 'only the old view is purged');
      const kept = (await p.events('user_id', 'u1', { limit: 10 })).events.map((e) => e.record.messageId);
      assert.equal(kept.length, 3, `the consent in traits, the manual tag and the API consent stay (${kept.join(', ')})`);
      assert.ok(kept.includes('grant'), 'the identify carrying the consent is kept whole');

      await p.rebuild();
      await p.drain();
      const v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual([v.consents.marketing?.granted, v.consents.analytics?.granted], [true, true], 'the rebuild repeats both consents');
      assert.deepEqual((await p.segments.tagMembers('crm/callback')).members.map((m) => m.profileId), [v.id], 'and the manual tag');
      assert.deepEqual((await p.segments.members('reachable')).members.map((m) => m.profileId), [v.id], 'and what reads the consent');
    } finally {
      await p.close();
    }
  });

  it('hands inactive profiles to the injected deletion, or by default erases them without suppressing the person', async () => {
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
    // Without an injected deletion, an inactive profile is erased (ledger entry by "retention"), not suppressed.
    const wired = await open({ inactiveProfileDays: 90 });
    try {
      await wired.p.ingest([view('a', 'old', 200), view('b', 'recent', 5)]);
      await wired.p.drain();
      const r = await wired.p.runRetention();
      assert.equal(r.profilesSkipped, undefined, 'the default deletion is wired');
      await wired.p.drain();
      assert.equal(await wired.p.profile('user_id', 'old'), undefined, 'the inactive profile is gone');
      assert.ok((await wired.p.profile('user_id', 'recent')) !== undefined, 'the recent one stays');
      const ledger = await wired.p.privacy.erasures();
      assert.deepEqual(ledger.map((e) => [e.status, e.requestedBy, e.removed.profiles, e.removed.events]), [['completed', 'retention', 1, 1]], 'one completed erasure, asked by retention');
      await wired.p.ingest([view('c', 'old', 0)]);
      await wired.p.drain();
      assert.equal((await wired.p.profile('user_id', 'old'))?.traits.views, 1, 'the person may come back: a new event makes a new profile');
    } finally {
      await wired.p.close();
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

  it('GET /v1/privacy/retention needs the privacy scope and shows only the key workspace', async () => {
    const { p } = await open({ rules: [{ workspace: 'shop', days: 10 }, { days: 400 }] });
    const app = buildServer(p);
    try {
      await p.ingest([view('s1', 'u1', 20)], { workspace: 'shop' });
      await p.drain();
      await p.runRetention();
      const privacy = (await p.keys.create('shop', ['privacy'])).key;
      const admin = (await p.keys.create('shop', ['read', 'write', 'admin'])).key;
      const elsewhere = (await p.keys.create('blog', ['privacy'])).key;
      const get = (key?: string, q = '') => app.inject({ method: 'GET', url: `/v1/privacy/retention${q}`, headers: key ? { authorization: `Bearer ${key}` } : {} });
      assert.equal((await get()).statusCode, 401, 'no key: 401');
      assert.equal((await get(admin)).statusCode, 403, 'a key without the privacy scope: 403');
      const ok = await get(privacy);
      assert.equal(ok.statusCode, 200, 'the privacy scope reads it');
      const body = ok.json() as { rules: unknown[]; entries: Array<{ workspace: string; purged: number; kind: string }> };
      assert.equal(body.rules.length, 2, "the rules that apply to the key's workspace");
      assert.deepEqual(body.entries.map((e) => [e.workspace, e.kind, e.purged]), [['*', 'events', 0], ['shop', 'events', 1]], 'the newest entry first');
      const theirs = (await get(elsewhere)).json() as { rules: unknown[]; entries: Array<{ workspace: string }> };
      assert.ok(theirs.entries.every((e) => e.workspace !== 'shop'), "another workspace never sees shop's entries");
      assert.equal(theirs.rules.length, 1, "nor shop's rules");
      assert.equal((await get(privacy, '?limit=0')).statusCode, 400, 'a bad page size is a 400');
      const page = (await get(privacy, '?limit=1')).json() as { entries: unknown[]; next?: number };
      assert.equal(page.entries.length, 1, 'one entry per page');
      assert.equal(((await get(privacy, `?limit=1&before=${page.next}`)).json() as { entries: unknown[] }).entries.length, 1, 'the next page');
    } finally {
      await app.close();
      await p.close();
    }
  });

  it('portrait retention run [--dry-run] prints the report; only the real run purges', async () => {
    const { dir, cleanup } = tempDir('portrait-retention-cli-');
    try {
      const config = { privacy: { retention: { rules: [{ days: 30 }] } } };
      writeFileSync(join(dir, 'portrait.config.json'), JSON.stringify(config));
      const p = await Portrait.open({ ...config, dataDir: dir } as ConfigInput);
      await p.ingest([view('old', 'ann', 365 * 3), view('new', 'ann', 0)].map((m) => ({ ...m, timestamp: new Date(Date.now() - (m.messageId === 'old' ? 400 * DAY : 0)).toISOString() })));
      await p.drain();
      await p.close();
      const bin = join(import.meta.dirname, '..', 'bin', 'portrait.js');
      const run = (...args: string[]) => promisify(execFile)(process.execPath, [bin, '--data-dir', dir, 'retention', 'run', ...args], { cwd: dir });
      const dry = JSON.parse((await run('--dry-run')).stdout) as { dryRun: boolean; events: Array<{ purged: number }> };
      assert.deepEqual([dry.dryRun, dry.events.map((e) => e.purged)], [true, [1]], 'the dry run counts the old event');
      const real = JSON.parse((await run()).stdout) as { dryRun: boolean; events: Array<{ purged: number }> };
      assert.deepEqual([real.dryRun, real.events.map((e) => e.purged)], [false, [1]], 'the real run purges it');
      const again = await Portrait.open({ ...config, dataDir: dir } as ConfigInput);
      try {
        assert.deepEqual((await again.events('user_id', 'ann')).events.map((e) => e.record.messageId), ['new'], 'only the recent event is left');
        assert.equal((await again.retentionLog()).length, 1, 'the purge is in the retention log (the dry run is not)');
      } finally {
        await again.close();
      }
    } finally {
      cleanup();
    }
  });

  it('refuses an invalid retention configuration with the problems listed', async () => {
    await assert.rejects(open({ rules: [{ days: 0, type: 'nope' }], intervalMinutes: 0 } /* deliberately invalid */ as unknown as RetentionInput), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'PORTRAIT_CONFIG_INVALID', 'a configuration error');
      for (const path of ['/privacy/retention/rules/0/days', '/privacy/retention/rules/0/type', '/privacy/retention/intervalMinutes']) assert.ok(e.message?.includes(path), `names ${path}`);
      return true;
    });
  });
});
