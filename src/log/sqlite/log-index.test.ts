import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { asGroupEvent, groupIdsOf, isEvent, type LogRecord, type PortraitEvent } from '../../core/event.ts';
import { logEvent as ev } from '../contract.ts';
import { INDEX_BATCH } from './log-index.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';

/** The connection of a log, for looking at its tables (tests only). */
const dbOf = (log: SqliteEventLog) => (log as unknown as { db: Database.Database }).db;
const watermark = (log: SqliteEventLog) => (dbOf(log).prepare(`SELECT value FROM log_meta WHERE key = 'indexed_through'`).pluck().get() as number | undefined) ?? 0;

/** What eventsFor and groupEvents must answer, computed from every stored record. */
async function expected(log: SqliteEventLog, workspace: string, upTo: number) {
  const all = (await log.read(0, 1_000_000)).filter((r) => r.position <= upTo && r.record.workspace === workspace);
  const person = (userIds: string[], anonymousIds: string[]) =>
    all
      .filter(({ record: r }) => isEvent(r) && (r.userId !== undefined ? userIds.includes(r.userId) : r.anonymousId !== undefined && anonymousIds.includes(r.anonymousId)))
      .map((r) => r.position);
  const group = (g: string) =>
    all
      .filter(({ record }) => {
        const e = asGroupEvent(record);
        return e !== undefined && groupIdsOf(e).includes(g);
      })
      .map((r) => r.position);
  return { person, group };
}

const USERS = ['u1', 'u2', 'u3'];
const ANONS = ['a1', 'a2', 'a3'];
const GROUPS = ['g1', 'g2'];

/** An event of a random person, sometimes attributed to groups, in one of two workspaces. */
const record = fc
  .record({
    type: fc.constantFrom('track', 'identify', 'group', 'page'),
    workspace: fc.constantFrom('w', 'w', 'w', 'x'),
    userId: fc.option(fc.constantFrom(...USERS), { nil: undefined }),
    anonymousId: fc.option(fc.constantFrom(...ANONS), { nil: undefined }),
    groupId: fc.constantFrom(...GROUPS),
    contextGroup: fc.option(fc.constantFrom(...GROUPS, 7), { nil: undefined }),
    groups: fc.option(fc.dictionary(fc.constantFrom('company', 'team'), fc.constantFrom(...GROUPS)), { nil: undefined }),
  })
  .map((r): Omit<PortraitEvent, 'messageId'> => ({
    type: r.type,
    workspace: r.workspace,
    timestamp: 1,
    receivedAt: 1,
    ...(r.userId !== undefined || r.anonymousId === undefined ? { userId: r.userId ?? 'u1' } : {}),
    ...(r.anonymousId !== undefined ? { anonymousId: r.anonymousId } : {}),
    ...(r.type === 'group' ? { groupId: r.groupId } : r.type === 'track' ? { event: 'e' } : {}),
    ...(r.contextGroup !== undefined || r.groups !== undefined ? { context: { ...(r.contextGroup !== undefined && { groupId: r.contextGroup }), ...(r.groups !== undefined && { groups: r.groups }) } } : {}),
  }));

describe('SqliteEventLog indexes by person and by group', () => {
  it('answer as a scan of every record would, whatever part of the log the index covers yet', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.array(record, { minLength: 1, maxLength: 8 }), fc.boolean()), { minLength: 1, maxLength: 8 }), fc.nat(), async (batches, cut) => {
        const log = new SqliteEventLog({ file: ':memory:' });
        let n = 0;
        for (const [batch, indexNow] of batches) {
          await log.append(batch.map((r) => ({ ...r, messageId: `m${n++}` }) as PortraitEvent));
          if (indexNow) log.indexNow();
        }
        const upTo = 1 + (cut % log.head());
        for (const at of [upTo, log.head()]) {
          const want = await expected(log, 'w', at);
          for (const [users, anons] of [[['u1'], []], [[], ['a1']], [['u2', 'u3'], ['a2', 'a3']], [USERS, ANONS]] as const) {
            const got = (await log.eventsFor('w', { userIds: [...users], anonymousIds: [...anons] }, { upTo: at })).map((r) => r.position);
            assert.deepEqual(got, want.person([...users], [...anons]), `eventsFor ${users} ${anons} up to ${at}`);
          }
          for (const g of [...GROUPS, '7']) assert.deepEqual((await log.groupEvents('w', g, { upTo: at })).map((r) => r.position), want.group(g), `groupEvents ${g} up to ${at}`);
        }
        await log.close();
      }),
      { numRuns: 60 },
    );
  });

  it('index in batches, not with each append, and catch up once a batch is waiting', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.append([ev('first', { userId: 'u1' })]);
    assert.equal(watermark(log), 0, 'one record waits: not indexed yet');
    assert.deepEqual((await log.eventsFor('w', { userIds: ['u1'], anonymousIds: [] })).map((r) => r.position), [1], 'found in the scanned tail meanwhile');
    const many = Array.from({ length: INDEX_BATCH }, (_, i) => ev(`m${i}`, { userId: `u${i % 50}` }));
    await log.append(many);
    assert.equal(watermark(log), 0, 'the append is acknowledged before the index is written');
    await new Promise((r) => setImmediate(r));
    assert.equal(watermark(log), INDEX_BATCH, 'a full batch waiting: one batch indexed in the next turn (the record after it waits for the next)');
    assert.equal(dbOf(log).prepare('SELECT COUNT(*) FROM log_people').pluck().get(), INDEX_BATCH, 'one entry per record indexed');
    assert.deepEqual((await log.eventsFor('w', { userIds: ['u1'], anonymousIds: [] })).map((r) => r.position).slice(0, 3), [1, 3, 53], 'found through the index');
    await log.close();
  });

  it('read a person and a group through the index tables, scanning only the records after the watermark', () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    const db = dbOf(log);
    const plan = (sql: string, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail);
    const index = (log as unknown as { index: { peopleStmt: Database.Statement; groupStmt: Database.Statement } }).index;
    for (const [name, sql, args] of [
      ['person', index.peopleStmt.source, ['w', '["uu1"]', 9, 9, 'w', '["u1"]', '[]']],
      ['group', index.groupStmt.source, ['w', 'g1', 9, 9, 'w']],
    ] as const) {
      const steps = plan(sql, ...args);
      assert.ok(steps.some((s) => /SEARCH (i|g) USING PRIMARY KEY/.test(s)), `${name}: the index table is searched by key (${steps.join('; ')})`);
      assert.ok(steps.some((s) => /SEARCH log USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/.test(s)), `${name}: the tail is a range of positions (${steps.join('; ')})`);
      assert.ok(!steps.some((s) => /^SCAN log\b/.test(s)), `${name}: no scan of the whole log (${steps.join('; ')})`);
    }
    void log.close();
  });

  it('erasure and retention remove the index entries of the records they delete', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    await log.append([
      ev('p1', { userId: 'gone', context: { groupId: 'g1' } }),
      ev('p2', { userId: undefined, anonymousId: 'gone-anon', context: { groups: { company: 'g1' } } }),
      ev('o1', { userId: 'other', context: { groupId: 'g1' } }),
      ev('old', { userId: 'other', timestamp: 0 }),
    ]);
    log.indexNow();
    await log.erase('w', { userIds: ['gone'], anonymousIds: ['gone-anon'], identKeys: ['user:gone', 'anon:gone-anon'] }, log.head());
    const db = dbOf(log);
    const orphans = () => db.prepare('SELECT COUNT(*) FROM (SELECT position FROM log_people UNION ALL SELECT position FROM log_groups) WHERE position NOT IN (SELECT position FROM log)').pluck().get();
    assert.equal(orphans(), 0, 'no entry of an erased record');
    assert.equal(db.prepare(`SELECT COUNT(*) FROM log_people WHERE person IN ('ugone', 'agone-anon')`).pluck().get(), 0, 'the erased ids are not in the index');
    assert.deepEqual((await log.groupEvents('w', 'g1', { upTo: log.head() })).map((r) => r.record.messageId), ['o1'], 'the group keeps the other member’s event');
    await log.purge({ before: 1 });
    assert.equal(orphans(), 0, 'no entry of a purged record');
    assert.deepEqual((await log.eventsFor('w', { userIds: ['other'], anonymousIds: [] })).map((r) => r.record.messageId), ['o1'], 'what retention kept still reads');
    await log.close();
  });

  it('a file written before the index is indexed by the appends after it opens, and reads right meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-index-'));
    try {
      const file = join(dir, 'log.db');
      const first = new SqliteEventLog({ file });
      await first.append([ev('a', { userId: 'u1', context: { groupId: 'g1' } }), ev('b', { userId: undefined, anonymousId: 'a1' })]);
      first.indexNow();
      await first.close();
      // What a file of an earlier version holds: records, and neither index nor watermark.
      const raw = new Database(file);
      raw.exec(`DROP TABLE log_people; DROP TABLE log_groups; DELETE FROM log_meta WHERE key = 'indexed_through';`);
      raw.close();
      const again = new SqliteEventLog({ file });
      assert.equal(watermark(again), 0, 'nothing indexed yet');
      assert.deepEqual((await again.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] })).map((r) => r.record.messageId), ['a', 'b'], 'read from the tail');
      assert.deepEqual((await again.groupEvents('w', 'g1', { upTo: again.head() })).map((r) => r.record.messageId), ['a']);
      await again.append([ev('c', { userId: 'u1' })]);
      again.indexNow();
      assert.equal(watermark(again), 3, 'the old records are indexed with the new');
      assert.deepEqual((await again.eventsFor('w', { userIds: ['u1'], anonymousIds: ['a1'] })).map((r) => r.record.messageId), ['a', 'b', 'c']);
      assert.deepEqual((await again.groupEvents('w', 'g1', { upTo: again.head() })).map((r) => r.record.messageId), ['a']);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps group_tag records of a group with its events', async () => {
    const log = new SqliteEventLog({ file: ':memory:' });
    const tag: LogRecord = { type: 'group_tag', workspace: 'w', messageId: 't1', groupId: 'g9', tag: 'vip', on: true, timestamp: 1, receivedAt: 1 };
    await log.append([ev('g', { type: 'group', groupId: 'g9' }), tag]);
    log.indexNow();
    assert.deepEqual((await log.groupEvents('w', 'g9', { upTo: log.head() })).map((r) => r.position), [1, 2]);
    await log.close();
  });
});
