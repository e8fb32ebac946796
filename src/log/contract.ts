/**
 * The EventLog contract: one suite every log backend must pass (run by
 * log.sqlite.test.ts and log.nats.test.ts).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { groupTagEvent, type GroupTagRecord, type LogRecord, type PortraitEvent } from '../core/event.ts';
import { isPortraitError } from '../core/errors.ts';
import type { EventLog } from './event-log.ts';

export interface LogFactory {
  /** A new, empty log, and how to dispose of it (after close). */
  open(): Promise<{ log: EventLog; dispose: () => Promise<void> }>;
}

export const logEvent = (messageId: string, over: Partial<PortraitEvent> = {}): PortraitEvent => ({
  type: 'track',
  workspace: 'w',
  messageId,
  userId: 'u',
  event: 'x',
  timestamp: 1,
  receivedAt: 1,
  ...over,
});

export function logContract(backend: string, factory: LogFactory, opts: { skip?: string | false } = {}): void {
  describe(`EventLog contract: ${backend}`, { skip: opts.skip }, () => {
    const withLog = (name: string, body: (log: EventLog) => Promise<void>) =>
      it(name, async () => {
        const { log, dispose } = await factory.open();
        try {
          await body(log);
        } finally {
          await log.close();
          await dispose();
        }
      });

    withLog('assigns increasing positions and reads back in order, after a position and up to a limit', async (log) => {
      assert.equal(log.head(), 0, 'an empty log has head 0');
      assert.deepEqual(await log.read(0, 10), [], 'an empty log reads nothing');
      assert.deepEqual(await log.append([logEvent('a'), logEvent('b', { userId: 'v' })]), ['appended', 'appended'], 'two appended');
      assert.deepEqual(await log.append([logEvent('c', { anonymousId: 'x', userId: undefined })]), ['appended'], 'one more');
      const all = await log.read(0, 10);
      assert.deepEqual(all.map((r) => r.record.messageId), ['a', 'b', 'c'], 'call order');
      const positions = all.map((r) => r.position);
      assert.ok(positions.every((p, i) => i === 0 || p > positions[i - 1]!), `positions increase: ${positions.join(', ')}`);
      assert.equal(log.head(), positions[2], 'head is the last position');
      assert.deepEqual((await log.read(positions[0]!, 10)).map((r) => r.record.messageId), ['b', 'c'], 'read after a position');
      assert.deepEqual((await log.read(0, 2)).map((r) => r.record.messageId), ['a', 'b'], 'read up to a limit');
      assert.deepEqual(await log.read(positions[2]!, 10), [], 'nothing after the head');
      assert.deepEqual(all[0]!.record, logEvent('a'), 'the record round-trips');
      assert.deepEqual(await log.append([]), [], 'appending nothing is a no-op');
    });

    withLog('deduplicates by workspace and messageId, within one call and across calls', async (log) => {
      assert.deepEqual(await log.append([logEvent('a'), logEvent('a'), logEvent('a', { workspace: 'other' })]), ['appended', 'duplicate', 'appended'], 'first of a pair wins; another workspace is another message');
      assert.deepEqual(await log.append([logEvent('a', { event: 'changed' }), logEvent('b')]), ['duplicate', 'appended'], 'a later duplicate is acknowledged, not stored');
      const all = await log.read(0, 10);
      assert.deepEqual(all.map((r) => `${r.record.workspace}/${r.record.messageId}`), ['w/a', 'other/a', 'w/b'], 'three records stored');
      assert.equal((all[0]!.record as PortraitEvent).event, 'x', 'the first version is kept');
    });

    withLog('eventsFor: user ids, then anonymous ids of events without a user id, up to a position, one workspace', async (log) => {
      const unlink: LogRecord = { type: 'unlink', workspace: 'w', messageId: 'un', a: 'user:u1', b: 'anon:a1', timestamp: 5, receivedAt: 5 };
      await log.append([
        logEvent('1', { userId: 'u1' }),
        logEvent('2', { userId: undefined, anonymousId: 'a1' }),
        logEvent('3', { userId: 'u2', anonymousId: 'a1' }),
        logEvent('4', { userId: 'u1', workspace: 'other' }),
        unlink,
        logEvent('5', { userId: 'u1', anonymousId: 'zz' }),
      ]);
      const got = await log.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] });
      assert.deepEqual(got.map((e) => e.record.messageId), ['1', '2', '5'], "u1's events and a1's anonymous one, not u2's, not other workspace's, not the unlink");
      const positions = got.map((e) => e.position);
      assert.ok(positions[0]! < positions[1]! && positions[1]! < positions[2]!, 'in position order');
      assert.deepEqual((await log.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] }, { upTo: positions[1] })).map((e) => e.record.messageId), ['1', '2'], 'upTo bounds the read');
      assert.deepEqual(await log.eventsFor('w', { userIds: [], anonymousIds: [] }), [], 'no ids, no events');
    });

    withLog('notifies listeners after an append, until they unsubscribe', async (log) => {
      let calls = 0;
      const off = log.onAppend(() => calls++);
      await log.append([logEvent('a')]);
      assert.ok(calls >= 1, 'notified after the append');
      off();
      const before = calls;
      await log.append([logEvent('b')]);
      assert.equal(calls, before, 'not notified after unsubscribing');
    });

    withLog('purge deletes old events by event time, workspace, type and name, up to a position; never unlinks; dry run only counts', async (log) => {
      const unlink: LogRecord = { type: 'unlink', workspace: 'w', messageId: 'un', a: 'user:a', b: 'anon:b', timestamp: 1, receivedAt: 1 };
      await log.append([
        logEvent('old-view', { event: 'View', timestamp: 100 }),
        logEvent('old-buy', { event: 'Buy', timestamp: 100 }),
        logEvent('old-page', { type: 'page', event: undefined, name: 'Home', timestamp: 100 }),
        logEvent('old-other', { workspace: 'other', event: 'View', timestamp: 100 }),
        unlink,
        logEvent('new-view', { event: 'View', timestamp: 900 }),
        logEvent('late-view', { event: 'View', timestamp: 100 }),
      ]);
      const all = await log.read(0, 100);
      const late = all.find((r) => r.record.messageId === 'late-view')!.position;
      const ids = async () => (await log.read(0, 100)).map((r) => `${r.record.workspace}/${r.record.messageId}`);
      const dry = await log.purge({ before: 500, workspace: 'w', type: 'track', event: 'View' }, { dryRun: true });
      assert.deepEqual([...dry], [['w', 2]], 'a dry run counts two old View events of w');
      assert.equal((await ids()).length, 7, 'a dry run deletes nothing');
      assert.deepEqual([...(await log.purge({ before: 500, workspace: 'w', type: 'track', event: 'View', upTo: late - 1 }))], [['w', 1]], 'one purged: the late one is past upTo');
      assert.deepEqual(await ids(), ['w/old-buy', 'w/old-page', 'other/old-other', 'w/un', 'w/new-view', 'w/late-view'], 'only old-view is gone');
      const rest = await log.purge({ before: 500 });
      assert.deepEqual([...rest].sort(), [['other', 1], ['w', 3]], 'a rule over every workspace counts per workspace');
      assert.deepEqual(await ids(), ['w/un', 'w/new-view'], 'only the unlink and the recent event remain');
      const head = log.head();
      assert.deepEqual(await log.append([logEvent('after')]), ['appended'], 'appends continue');
      assert.ok(log.head() > head, 'positions are not reused after a purge');
      assert.equal((await log.eventsFor('w', { userIds: ['u'], anonymousIds: [] })).length, 2, 'eventsFor no longer finds purged events');
    });

    withLog('purge keeps the events carrying a consent or manual tag decision, whatever their age', async (log) => {
      await log.append([
        logEvent('api-consent', { type: 'identify', event: undefined, timestamp: 100, context: { consent: { marketing: false }, consentSource: 'api' } }),
        logEvent('traits-consent', { type: 'identify', event: undefined, timestamp: 100, traits: { consent: { analytics: true }, city: 'Lima' } }),
        logEvent('context-consent', { timestamp: 100, context: { consent: { categoryPreferences: { Advertising: true } } } }),
        logEvent('manual-tag', { type: 'identify', event: undefined, timestamp: 100, context: { portraitTags: { 'crm/callback': true } } }),
        logEvent('plain', { timestamp: 100 }),
        logEvent('not-a-decision', { timestamp: 100, context: { consent: 'yes' }, properties: { consent: { marketing: true } } }),
        logEvent('track-traits', { timestamp: 100, traits: { consent: { marketing: true } } }),
      ]);
      const purged = await log.purge({ before: 500 });
      assert.deepEqual([...purged], [['w', 3]], 'three purged');
      assert.deepEqual(
        (await log.read(0, 100)).map((r) => r.record.messageId),
        ['api-consent', 'traits-consent', 'context-consent', 'manual-tag'],
        'decisions stay; a plain event, a consent that is no decision object, one in properties, and traits outside an identify go',
      );
    });

    withLog('groupEvents: the group calls naming a group and the messages attributed to it, in order, up to a position', async (log) => {
      await log.append([
        logEvent('g1', { type: 'group', groupId: 'acme', event: undefined }),
        logEvent('t1', { context: { groupId: 'acme' } }),
        logEvent('t2', { context: { groups: { company: 'acme', team: 7 } } }),
        logEvent('t3', { context: { groupId: 'beta' } }),
        logEvent('g2', { type: 'group', groupId: 'beta', event: undefined, context: { groupId: 'acme' } }),
        logEvent('t4', { workspace: 'other', context: { groupId: 'acme' } }),
        logEvent('t5', { properties: { note: 'mentions "groupId": "acme" only in a property' } }),
      ]);
      const ids = async (group: string, upTo = log.head()) => (await log.groupEvents('w', group, { upTo })).map((r) => r.record.messageId);
      assert.deepEqual(await ids('acme'), ['g1', 't1', 't2', 'g2'], "acme's group call, context.groupId, context.groups and a call for another group attributed to it; not another workspace's, not a property");
      assert.deepEqual(await ids('beta'), ['t3', 'g2']);
      assert.deepEqual(await ids('7'), ['t2'], 'a number id is found as its text');
      const second = (await log.read(0, 10))[1]!.position;
      assert.deepEqual(await ids('acme', second), ['g1', 't1'], 'up to a position');
    });

    withLog("a group's manual tag record: read back as written, among the group's events as the group call it folds as, in no person's events, never purged, deduplicated by messageId", async (log) => {
      const tag: GroupTagRecord = { type: 'group_tag', workspace: 'w', messageId: 'gt1', groupId: 'acme', tag: 'tier/gold', on: true, timestamp: 100, receivedAt: 100 };
      assert.deepEqual(await log.append([logEvent('g1', { type: 'group', groupId: 'acme', event: undefined }), tag]), ['appended', 'appended']);
      assert.deepEqual(await log.append([tag]), ['duplicate'], 'a second append of the same messageId is a duplicate');
      assert.deepEqual((await log.read(0, 10))[1]!.record, tag, 'read back as written');
      const events = await log.groupEvents('w', 'acme', { upTo: log.head() });
      assert.deepEqual(events.map((e) => e.record.messageId), ['g1', 'gt1'], "the group's events: its group call, then the decision");
      assert.deepEqual(events[1]!.record, groupTagEvent(tag), 'the decision as the group call it folds as, naming no person');
      assert.deepEqual(await log.groupEvents('w', 'beta', { upTo: log.head() }), [], "not another group's");
      assert.deepEqual((await log.eventsFor('w', { userIds: ['u'], anonymousIds: [] })).map((e) => e.record.messageId), ['g1'], "not a person's event");
      await log.purge({ before: 1_000 });
      assert.deepEqual((await log.read(0, 10)).map((r) => r.record.messageId), ['gt1'], 'retention purges the old group call, never the decision');
    });

    it('refuses appends once closed', async () => {
      const { log, dispose } = await factory.open();
      await log.close();
      try {
        await assert.rejects(log.append([logEvent('a')]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CLOSED', 'PORTRAIT_CLOSED');
      } finally {
        await dispose();
      }
    });
  });
}
