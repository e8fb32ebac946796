import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { DAY, ManualClock } from '../src/core/clock.ts';
import { identValue } from '../src/core/identity.ts';
import { Portrait, type ConfigInput } from '../src/index.ts';
import { partitionOf } from '../src/log/index.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { tempDeployment, waitFor, type ClusterOptions } from './support/cluster.ts';
import { T0 } from './support/open.ts';
import { startReceiver } from './support/receiver.ts';
import { serviceSkip } from './support/services.ts';
import { SEGMENTS_OVER_TRAITS, workload } from './support/workload.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const TAGS = [{ name: 'value/high', condition: 'traits.revenue > 100' }, { name: 'interest/browsing', condition: 'traits.views_7d >= 2' }, { name: 'crm/watch' }];

type Config = (cluster?: ClusterOptions) => ConfigInput;

/** A database and a stream of their own, and the configuration of a node on them. */
async function deployment(partitions: number, base: Partial<ConfigInput> = {}): Promise<{ config: Config; url: string }> {
  const d = await tempDeployment(partitions, base);
  cleanups.push(d.dispose);
  return d;
}

async function open(config: ConfigInput, clock: ManualClock): Promise<Portrait> {
  const p = await Portrait.open(config, { clock });
  cleanups.push(() => p.close());
  return p;
}

/** One API node and two workers of a deployment, once each worker holds half of the partitions. */
async function apiAndTwoWorkers(config: Config, clock: ManualClock, partitions: number) {
  const api = await open(config({ role: 'api' }), clock);
  const w1 = await open(config({ role: 'worker', workerId: 'w1' }), clock);
  const w2 = await open(config({ role: 'worker', workerId: 'w2' }), clock);
  await waitFor(() => w1.cluster!.partitionsHeld().length === partitions / 2 && w2.cluster!.partitionsHeld().length === partitions / 2, 10_000, 'each worker holds half of the partitions');
  return { api, w1, w2 };
}

async function send(p: Portrait, all: readonly unknown[]): Promise<void> {
  for (let i = 0; i < all.length; i += 500) await p.ingest(all.slice(i, i + 500));
}

/** Drains every node given: each worker waits for the partitions it holds (records, backfills, due re-evaluations). */
async function drainAll(...nodes: Portrait[]): Promise<void> {
  // Twice: a partition finishing one backfill may start another (a definition read by another).
  for (let i = 0; i < 2; i++) for (const n of nodes) await n.drain();
}

/** Each partition's committed position and backfill progress: what a test that timed out waiting for a backfill says. */
async function progressOf(url: string): Promise<string> {
  const positions = await sql<{ partition: number; position: number }>(url, 'SELECT partition, position FROM engine_position ORDER BY partition');
  const traits = await sql<{ name: string; partition: number; cursor: number; target: number; done: boolean }>(url, 'SELECT name, partition, cursor, target, done FROM trait_backfills WHERE NOT done ORDER BY name, partition');
  const segments = await sql<{ name: string; partition: number; cursor: number; done: boolean }>(url, 'SELECT name, partition, cursor, done FROM segment_backfills WHERE NOT done ORDER BY name, partition');
  return `positions ${JSON.stringify(positions)}, traits backfilling ${JSON.stringify(traits)}, segments backfilling ${JSON.stringify(segments)}`;
}

async function sql<R>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const store = await PostgresStore.open({ url, migrate: false });
  try {
    return (await store.pool.query(text, values)).rows as R[];
  } finally {
    await store.close();
  }
}

/** Every definition's members as stored: `kind name` → sorted profile ids. */
async function stored(p: Portrait): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const s of await p.segments.list('segment')) out.set(`segment ${s.name}`, [...(await p.segments.memberIds(s.name))].sort());
  for (const t of await p.segments.list('tag')) {
    const ids: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await p.segments.tagMembers(t.name, { after, limit: 1000 });
      ids.push(...page.members.map((m) => m.profileId));
      if (page.next === undefined) break;
      after = page.next;
    }
    out.set(`tag ${t.name}`, ids.sort());
  }
  return out;
}

/** Every definition evaluated from scratch over every stored profile, at the node's clock (a manual tag: whether the profile carries it). */
async function fromScratch(p: Portrait, url: string): Promise<Map<string, string[]>> {
  const ids = (await sql<{ id: string }>(url, `SELECT id FROM profiles WHERE workspace = 'default' ORDER BY id`)).map((r) => r.id);
  const out = new Map<string, string[]>();
  const defs = [...(await p.segments.list('segment')), ...(await p.segments.list('tag'))];
  for (const d of defs) {
    const held: string[] = [];
    for (const id of ids) if ((await p.segments.explain(d.kind, d.name, 'profile_id', id)).member) held.push(id);
    out.set(`${d.kind} ${d.name}`, held);
  }
  return out;
}

/**
 * The notifications agree with the membership history: for every profile and
 * segment, the outbox's entered / exited rows are the history's changes, in
 * order; and each segment's last size is its member count.
 */
async function assertOutboxMatchesHistory(p: Portrait, url: string): Promise<void> {
  const history = await sql<{ profile_id: string; segment: string; change: string }>(url, `SELECT profile_id, segment, change FROM segment_history WHERE segment NOT LIKE 'tag:%' ORDER BY seq`);
  const outbox = await sql<{ profile_id: string; kind: string; payload: string }>(url, `SELECT profile_id, kind, payload FROM outbox WHERE kind LIKE 'segment.%' ORDER BY seq`);
  const seq = (rows: Array<[string, string, string]>) => {
    const m = new Map<string, string[]>();
    for (const [profile, segment, change] of rows) m.set(`${segment} ${profile}`, [...(m.get(`${segment} ${profile}`) ?? []), change]);
    return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
  };
  const fromHistory = seq(history.map((h) => [h.profile_id, h.segment, h.change]));
  const fromOutbox = seq(outbox.map((o) => [o.profile_id, (JSON.parse(o.payload) as { segment: string }).segment, o.kind === 'segment.entered' ? 'entered' : 'exited']));
  assert.ok(fromHistory.size > 0, 'memberships changed');
  assert.deepEqual(fromOutbox, fromHistory, 'every entry and exit in the history has its notification, once, in the same order');
  for (const s of await p.segments.list('segment')) {
    const members = (await p.segments.memberIds(s.name)).size;
    const [last] = await p.segments.sizes(s.name, { limit: 1 });
    assert.equal(last?.size ?? 0, members, `the size series of ${s.name} ends at its member count (the sum of the partitions' series)`);
    assert.equal(s.size, members, `the status of ${s.name} reports its member count`);
  }
}

describe('segments and tags on partitioned workers (PostgreSQL and NATS JetStream)', { skip }, () => {
  it('two workers evaluate every segment and tag of the profiles they write; one created over the API mid-stream backfills; memberships equal a from-scratch evaluation and survive a rebuild', async () => {
    // A segment naming the manual tag's parent, and one naming a rule-driven tag.
    const segments = [...SEGMENTS_OVER_TRAITS, { name: 'watched', condition: 'has_tag("crm") and in_segment("buyers")' }, { name: 'valuable', condition: 'has_tag("value")' }];
    const { config, url } = await deployment(4, { segments, tags: TAGS });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 4);
    const all = [...workload({ events: 4_000, users: 400, seed: 21, duplicateRate: 0.02, start: T0 - 5 * DAY })];
    await send(api, all.slice(0, 2_500));
    await drainAll(w1, w2);

    // Mid-stream, on the API node: a new segment (backfilled per partition) while events keep coming.
    const created = await api.segments.put('segment', { name: 'midrange', condition: 'traits.largest_order >= 100 and not in_segment("big_spenders")' });
    assert.equal(created.created, true);
    await send(api, all.slice(2_500));
    await waitFor(async () => (await api.segments.get('segment', 'midrange')).status === 'live', 20_000, 'every partition backfilled the new segment');
    await drainAll(w1, w2);
    // Time passes: profiles leave active_7d and enter at_risk on the partitions that write them.
    clock.advance(3 * DAY);
    await drainAll(w1, w2);

    const members = await stored(api);
    assert.deepEqual(members, await fromScratch(api, url), 'every membership equals its definition evaluated from scratch over the stored profiles');
    assert.ok((members.get('segment at_risk') ?? []).length > 0 && (members.get('segment midrange') ?? []).length > 0, 'time and the new definition both made members');
    await assertOutboxMatchesHistory(api, url);
    const progress = await sql<{ partition: number; done: boolean }>(url, `SELECT partition, done FROM segment_backfills WHERE kind = 'segment' AND name = 'midrange' ORDER BY partition`);
    assert.deepEqual(progress.map((b) => [b.partition, b.done]), [[0, true], [1, true], [2, true], [3, true]], 'each partition backfilled its own profiles');

    // Manual tags, the tag tree and the audience export work from any node.
    const [someone] = members.get('segment buyers') ?? [];
    assert.ok(someone !== undefined);
    assert.deepEqual(members.get('segment valuable'), members.get('tag value/high'), 'a segment naming a rule-driven tag follows it');
    const set = await api.segments.tag('crm/watch', 'profile_id', someone, true);
    assert.equal(set.changed, true);
    // The decision travels through the log to the partition that writes the profile.
    await waitFor(async () => (await api.segments.memberIds('watched')).size === 1, 20_000, 'the partition folded the manual tag');
    await drainAll(w1, w2);
    const tagged = await stored(api);
    assert.deepEqual(tagged.get('tag crm/watch'), [someone], 'the manual tag is a membership');
    assert.deepEqual(tagged.get('segment watched'), [someone], 'the segment naming its parent followed');
    assert.deepEqual(tagged, await fromScratch(api, url), 'still equal to a from-scratch evaluation');
    const changes = await sql<{ segment: string; change: string; reason: string; position: string }>(url, `SELECT segment, change, reason, position FROM segment_history WHERE profile_id = $1 AND segment IN ('watched', 'tag:crm/watch') ORDER BY segment`, [someone]);
    assert.deepEqual(changes.map((c) => `${c.segment} ${c.change} ${c.reason}`), ['tag:crm/watch entered manual', 'watched entered event'], 'history of both');
    assert.equal(changes[0]!.position, changes[1]!.position, 'written in one commit');
    const notes = await sql<{ kind: string; payload: string }>(url, `SELECT kind, payload FROM outbox WHERE profile_id = $1 AND kind LIKE 'tag.%'`, [someone]);
    assert.deepEqual(notes.map((n) => [n.kind, (JSON.parse(n.payload) as { tag: string; source: string }).tag, (JSON.parse(n.payload) as { source: string }).source]).filter((n) => n[2] === 'manual'), [['tag.entered', 'crm/watch', 'manual']], 'and its tag.entered notification');
    assert.ok(notes.some((n) => (JSON.parse(n.payload) as { source: string }).source === 'rule'), 'rule-driven tags notify too');
    const tree = await w1.segments.tagTree();
    assert.equal(tree.find((n) => n.name === 'crm')?.total, 1, 'the tag tree counts the manual tag');
    assert.equal(tree.find((n) => n.name === 'value')?.children[0]?.count, members.get('tag value/high')?.length, 'and the rule-driven ones');
    let exported = '';
    for await (const chunk of await api.exportSegment('buyers', { format: 'ndjson' })) exported += chunk;
    assert.equal(exported.trim().split('\n').length, members.get('segment buyers')?.length, 'the export streams every member');

    // A rebuild from the log (every other worker stopped) re-evaluates every profile and notifies nothing new.
    const outboxBefore = await sql<{ n: number }>(url, 'SELECT COUNT(*)::int AS n FROM outbox');
    await w1.close();
    await w2.close();
    const rebuilt = await open(config({ role: 'all', workerId: 'rebuild' }), clock);
    await rebuilt.rebuild();
    await drainAll(rebuilt);
    assert.deepEqual(await stored(rebuilt), tagged, 'a rebuild gives the same memberships, manual tags included');
    assert.deepEqual(await sql<{ n: number }>(url, 'SELECT COUNT(*)::int AS n FROM outbox'), outboxBefore, 'and, since nothing changed, no notification');
  });

  it("a manual tag on a group (account) profile goes to the group's home partition, held by another worker than its member's: membership, history and notification there; a member's erasure leaves it; a rebuild repeats it", async () => {
    const { config, url } = await deployment(4, { segments: [{ name: 'watched_accounts', condition: 'has_tag("crm")' }], tags: TAGS });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 4);
    const holder = (partition: number) => (w1.cluster!.partitionsHeld().includes(partition) ? w1 : w2);
    const user = 'gt.user.';
    let i = 0;
    while (holder(partitionOf('default', `gt.team.${i}.`, 4)) === holder(partitionOf('default', user, 4))) i++;
    const group = `gt.team.${i}.`;
    const home = partitionOf('default', group, 4);
    await api.ingest([
      { type: 'group', userId: user, groupId: group, traits: { plan: 'pro' }, messageId: 'gt-0', timestamp: T0 - 2000 },
      { type: 'track', userId: user, event: 'Product Viewed', context: { groupId: group }, messageId: 'gt-1', timestamp: T0 - 1000 },
    ]);
    await drainAll(w1, w2);
    const gid = (await api.profile('group_id', group))!.id;

    const set = await api.segments.tag('crm/watch', 'group_id', group, true);
    assert.deepEqual([set.profileId, set.changed], [gid, true], 'the group profile, changed');
    await waitFor(async () => (await api.segments.memberIds('watched_accounts')).has(gid), 20_000, "the group's home partition folded the decision");
    await drainAll(w1, w2);
    const owner = await sql<{ partition: number }>(url, `SELECT partition FROM identity_routes WHERE workspace = 'default' AND profile_id = $1`, [gid]);
    assert.deepEqual(owner.map((r) => r.partition), [home], 'the group is written by its home partition');
    const changes = await sql<{ segment: string; change: string; reason: string; position: string }>(url, `SELECT segment, change, reason, position FROM segment_history WHERE profile_id = $1 ORDER BY segment`, [gid]);
    assert.deepEqual(changes.map((c) => `${c.segment} ${c.change} ${c.reason}`), ['tag:crm/watch entered manual', 'watched_accounts entered event'], 'history of the tag and the segment reading it');
    assert.equal(changes[0]!.position, changes[1]!.position, 'written in one commit');
    const notes = await sql<{ kind: string; payload: string }>(url, `SELECT kind, payload FROM outbox WHERE profile_id = $1 AND kind LIKE 'tag.%'`, [gid]);
    assert.deepEqual(notes.map((n) => [n.kind, (JSON.parse(n.payload) as { tag: string }).tag, (JSON.parse(n.payload) as { source: string }).source]), [['tag.entered', 'crm/watch', 'manual']], 'and its tag.entered notification');
    assert.deepEqual(await stored(api), await fromScratch(api, url), 'every membership equals a from-scratch evaluation');

    // The member's erasure (on their own partition) recomputes the group at its home without them: the decision stays.
    const entry = await api.privacy.erase('user_id', user);
    assert.equal((await api.privacy.waitFor(entry.id)).status, 'completed');
    await drainAll(w1, w2);
    assert.equal((await api.profile('group_id', group))?.eventCount, 1, "the group's only event left is its decision");
    assert.ok((await api.segments.memberIds('watched_accounts')).has(gid), 'and it keeps the tag');

    // A manual tag an earlier version stored for another group outside the log moves into it, to that group's home; two nodes moving the same row append it once.
    const other = `gt.other.${i}.`;
    await api.ingest([{ type: 'group', userId: 'gt.member.', groupId: other, messageId: 'gt-2', timestamp: T0 - 1500 }]);
    await drainAll(w1, w2);
    const oid = (await api.profile('group_id', other))!.id;
    const legacy = async () => {
      const st = await PostgresStore.open({ url, migrate: false });
      try {
        await st.segments.setTag('default', 'crm/watch', oid, T0 - 500);
      } finally {
        await st.close();
      }
    };
    await legacy();
    assert.deepEqual(await api.segments.moveStoredTags(), { moved: 1, kept: 0, dropped: 0 }, 'the group row moves');
    await legacy();
    assert.deepEqual(await w1.segments.moveStoredTags(), { moved: 1, kept: 0, dropped: 0 }, 'and again on another node');
    await waitFor(async () => (await api.segments.memberIds('watched_accounts')).has(oid), 20_000, "the other group's home folded the moved decision");
    await drainAll(w1, w2);
    const moved = (await api.profile('group_id', other))!;
    assert.deepEqual([moved.eventCount, moved.lastSeen], [2, new Date(T0 - 500).toISOString()], "its call and one decision, at the row's time");

    // Unset and set again from a worker node, then a rebuild from the log (every other worker stopped).
    // The later decision by event time wins: the clock moves on between them (nodes number their own calls).
    clock.advance(1000);
    assert.equal((await w1.segments.tag('crm/watch', 'group_id', group, false)).changed, true, 'unset');
    await waitFor(async () => !(await api.segments.memberIds('watched_accounts')).has(gid), 20_000, 'the unset is folded');
    await drainAll(w1, w2);
    clock.advance(1000);
    await w2.segments.tag('crm/watch', 'group_id', group, true);
    await waitFor(async () => (await api.segments.memberIds('watched_accounts')).has(gid), 20_000, 'set again');
    await drainAll(w1, w2);
    const members = await stored(api);
    const doc = (await api.profile('group_id', group))!;
    const otherDoc = (await api.profile('group_id', other))!;
    await w1.close();
    await w2.close();
    const rebuilt = await open(config({ role: 'all', workerId: 'rebuild' }), clock);
    await rebuilt.rebuild();
    await drainAll(rebuilt);
    assert.deepEqual(await stored(rebuilt), members, 'a rebuild gives the same memberships');
    assert.deepEqual(await rebuilt.profile('group_id', group), doc, 'and the same group profile');
    assert.deepEqual(await rebuilt.profile('group_id', other), otherDoc, 'and the moved one');
    // Their connections go now, not at the end of the file: the tests after this one open nodes of their own.
    await rebuilt.close();
    await api.close();
  });

  it('time-driven: a profile leaves "active in the last 7 days" when the time passes, on the partition that writes it, exactly once, also after a lease takeover', async () => {
    const { config, url } = await deployment(4, { segments: [{ name: 'active', condition: 'last_seen within 7 days' }] });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 4);
    const users = Array.from({ length: 60 }, (_, u) => `user${u}`);
    await send(api, users.map((u, i) => ({ type: 'track', userId: u, event: 'Seen', messageId: `seen-${u}`, timestamp: new Date(T0 - DAY + i * 1000).toISOString() })));
    await drainAll(w1, w2);
    assert.equal((await api.segments.memberIds('active')).size, users.length, 'every user is active');

    // Each profile's re-evaluation is scheduled by the partition that writes it.
    const schedule = await sql<{ profile_id: string; partition: number; due_at: number }>(url, 'SELECT profile_id, partition, due_at FROM segment_schedule');
    assert.equal(schedule.length, users.length);
    for (const s of schedule) {
      const idents = await sql<{ ident: string }>(url, 'SELECT ident FROM identities WHERE profile_id = $1', [s.profile_id]);
      const homes = new Set(idents.map((i) => partitionOf('default', identValue(i.ident), 4)));
      assert.deepEqual([...homes], [s.partition], `profile ${s.profile_id} is scheduled on the partition holding its identifiers`);
    }
    clock.advance(3 * DAY);
    await drainAll(w1, w2);
    assert.equal((await api.segments.memberIds('active')).size, users.length, 'nobody leaves early');

    // One worker stops renewing; the other takes its partitions over, schedule included.
    const lost = w1.cluster!.partitionsHeld();
    await w1.cluster!.suspend();
    await waitFor(() => w2.cluster!.partitionsHeld().length === 4, 10_000, `w2 takes partitions ${lost.join(', ')} over`);
    clock.advance(4 * DAY);
    await drainAll(w2);
    assert.equal((await api.segments.memberIds('active')).size, 0, 'every user left when the 7 days passed');
    const exits = await sql<{ profile_id: string; reason: string; time: number }>(url, `SELECT profile_id, reason, time FROM segment_history WHERE change = 'exited'`);
    assert.equal(exits.length, users.length, 'each profile left exactly once');
    assert.equal(new Set(exits.map((e) => e.profile_id)).size, users.length);
    assert.ok(exits.every((e) => e.reason === 'time' && e.time === T0 + 7 * DAY), 'at the instant the time passed, with no new event');
    const notified = await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM outbox WHERE kind = 'segment.exited'`);
    assert.equal(notified[0]!.n, users.length, 'one segment.exited notification each');
    assert.deepEqual(await api.segments.sizes('active', { limit: 1 }).then((s) => s[0]?.size), 0, 'the size series of the deployment ends at 0');
  });

  it('a tag dropped from the configuration makes the partitions evaluate again the definitions whose tag tests covered it', async () => {
    const segments = [{ name: 'curious', condition: 'has_tag("interest")' }, { name: 'seen', condition: 'event_count >= 1' }];
    const { config } = await deployment(2, { segments, tags: [{ name: 'interest/music' }, { name: 'interest/sports' }] });
    const clock = new ManualClock(T0);
    const first = await open(config(), clock);
    await waitFor(() => first.cluster!.partitionsHeld().length === 2, 10_000, 'the node holds both partitions');
    await send(first, ['u1', 'u2'].map((u) => ({ type: 'identify', userId: u, messageId: `i-${u}`, timestamp: new Date(T0 - 5000).toISOString() })));
    await drainAll(first);
    await first.segments.tag('interest/music', 'user_id', 'u1', true);
    await first.segments.tag('interest/sports', 'user_id', 'u2', true);
    await drainAll(first);
    const u2 = (await first.profile('user_id', 'u2'))!.id;
    assert.equal((await first.segments.memberIds('curious')).size, 2, 'both curious before');
    const seen = await first.segments.get('segment', 'seen');
    await first.close();

    const next = await open({ ...config(), tags: [{ name: 'interest/sports' }] }, clock);
    await waitFor(() => next.cluster!.partitionsHeld().length === 2, 10_000, 'the next node holds both partitions');
    await drainAll(next);
    await waitFor(async () => (await next.segments.get('segment', 'curious')).status === 'live', 10_000, 'the evaluation ends');
    assert.deepEqual([...(await next.segments.memberIds('curious'))], [u2], 'u1 left with the dropped tag');
    assert.deepEqual(await next.segments.get('segment', 'seen'), { ...seen, size: 2 }, 'a definition not covering it is untouched');
  });

  it('a webhook destination receives each notification of partitioned workers exactly once', async () => {
    let calls = 0;
    // Every third first attempt fails: retries must not duplicate anything.
    const receiver = await startReceiver((r) => (r.nth === 1 && calls++ % 3 === 0 ? 500 : 200));
    cleanups.push(() => receiver.close());
    const { config, url } = await deployment(4, {
      // Conditions time does not change: the clock moves below only to bring retries due.
      segments: SEGMENTS_OVER_TRAITS.filter((x) => ['buyers', 'big_spenders', 'vip'].includes(x.name)),
      destinations: [{ id: 'hook', url: `${receiver.url}/hook`, secret: 's'.repeat(32), kinds: ['segment.entered', 'segment.exited'] }],
      delivery: { backoffBaseMs: 20, backoffCapMs: 100, idleMs: 20 },
    });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 4);
    await send(api, [...workload({ events: 1_500, users: 150, seed: 5, duplicateRate: 0.02, start: T0 - 9 * DAY })]);
    await drainAll(w1, w2);
    const rows = await sql<{ seq: number }>(url, `SELECT seq FROM outbox WHERE kind LIKE 'segment.%'`);
    assert.ok(rows.length > 100, `the workers wrote notifications (${rows.length})`);
    await waitFor(
      () => {
        // Retry times are read from the nodes' (injected) clock.
        clock.advance(100);
        return receiver.successes().size === rows.length;
      },
      30_000,
      `all ${rows.length} notifications are delivered`,
    );
    const ids = [...receiver.successes()];
    assert.ok(ids.every(([, n]) => n === 1), 'each delivery id was answered 2xx exactly once');
    assert.deepEqual(ids.map(([id]) => Number(id.split(':')[1])).sort((a, b) => a - b), rows.map((r) => r.seq).sort((a, b) => a - b), 'one delivery per outbox row');
  });

  it('a trait made over the API on a fresh deployment counts the events partitions folded before they noticed it', async () => {
    const { config, url } = await deployment(2);
    const clock = new ManualClock(T0);
    const api = await open(config({ role: 'api' }), clock);
    const w1 = await open(config({ role: 'worker', workerId: 'w1' }), clock);
    await waitFor(() => w1.cluster!.partitionsHeld().length === 2, 10_000, 'the worker holds both partitions');
    // Live at once (nothing committed yet); the worker notices it only at its next poll of the definitions.
    await api.putTrait({ name: 'purchases', kind: 'count', filter: { event: 'Order Completed' } });
    await send(api, Array.from({ length: 200 }, (_, i) => ({ type: 'track', userId: `u${i % 50}`, event: 'Order Completed', messageId: `o-${i}`, timestamp: new Date(T0 - DAY + i).toISOString() })));
    await w1.drain();
    await waitFor(async () => (await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM trait_backfills WHERE name = 'purchases' AND done`))[0]!.n === 2, 10_000, 'both partitions met the trait');
    await w1.drain();
    const counted = (await sql<{ doc: string }>(url, 'SELECT doc FROM profiles')).reduce((n, r) => n + (((JSON.parse(r.doc) as { traits: Record<string, { s: number }> }).traits.purchases?.s as number | undefined) ?? 0), 0);
    assert.equal(counted, 200, 'every order is counted once');
  });

  it('a segment reading a trait that a partition backfills holds its memberships there until the backfill ends, then re-evaluates everyone', async () => {
    const { config, url } = await deployment(2, { engine: { commitIntervalMs: 20, backfillChunk: 100 } });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 2);
    await api.putTrait({ name: 'n', kind: 'count', filter: { event: 'Order Completed' } });
    await api.segments.put('segment', { name: 'few', condition: 'traits.n >= 1 and traits.n <= 2' });
    const at = (i: number) => new Date(T0 - DAY + i).toISOString();
    // Buyers (one order) and browsers (none), each with five views.
    const users = Array.from({ length: 50 }, (_, u) => `u${u}`);
    const browsers = Array.from({ length: 50 }, (_, u) => `b${u}`);
    const views = (u: string, k: number) => [1, 2, 3, 4, 5].map((i) => ({ type: 'track', userId: u, event: 'Product Viewed', messageId: `v-${u}-${i}`, timestamp: at(30_000 + k * 10 + i) }));
    // Filler first, so each partition's backfill of the new version takes many chunks.
    const msgs = [
      ...Array.from({ length: 12_000 }, (_, i) => ({ type: 'track', userId: `f${i % 400}`, event: 'Seen', messageId: `f-${i}`, timestamp: at(i) })),
      ...users.flatMap((u, k) => [{ type: 'track', userId: u, event: 'Order Completed', messageId: `o-${u}`, timestamp: at(20_000 + k) }, ...views(u, k)]),
      ...browsers.flatMap((u, k) => views(u, 100 + k)),
    ];
    await send(api, msgs);
    // The workers may have folded events before they noticed the new trait: it then backfills there too.
    await waitFor(async () => (await api.traitDefinitions()).find((d) => d.name === 'n')?.status === 'live', 20_000, async () => `the trait is live in both partitions (${await progressOf(url)})`);
    await waitFor(async () => (await api.segments.get('segment', 'few')).status === 'live', 20_000, async () => `and the segment (${await progressOf(url)})`);
    await drainAll(w1, w2);
    assert.equal((await api.segments.memberIds('few')).size, users.length, 'one order each: everyone is in');

    // The trait now counts views (5 each): nobody belongs in "few" once the backfill is done.
    await api.putTrait({ name: 'n', kind: 'count', filter: { event: 'Product Viewed' } });
    await waitFor(
      async () => (await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM trait_backfills WHERE name = 'n' AND NOT done AND hash = (SELECT hash FROM definitions WHERE name = 'n')`))[0]!.n === 2,
      10_000,
      'both partitions started backfilling the new version',
    );
    assert.deepEqual((await api.segments.get('segment', 'few')).waitingFor, ['n'], 'the segment says what it waits for, on any node');
    // A new view streams in with the new version before the backfill reaches it: a partial count of 1 must not make a browser enter.
    await send(api, browsers.map((u) => ({ type: 'track', userId: u, event: 'Product Viewed', messageId: `v-${u}-6`, timestamp: at(40_000) })));
    await waitFor(async () => (await api.traitDefinitions()).find((d) => d.name === 'n')?.status === 'live', 20_000, 'the trait backfill ends in both partitions');
    await waitFor(async () => (await api.segments.get('segment', 'few')).status === 'live', 20_000, 'and the re-evaluation after it');
    await drainAll(w1, w2);
    assert.deepEqual([...(await api.segments.memberIds('few'))], [], 'after the backfill nobody has 1 or 2 views');
    const changes = await sql<{ change: string; n: number }>(url, `SELECT change, COUNT(*)::int AS n FROM segment_history WHERE segment = 'few' GROUP BY change ORDER BY change`);
    assert.deepEqual(changes.map((c) => [c.change, c.n]), [['entered', users.length], ['exited', users.length]], 'each buyer left once; no browser entered on a partial count');
  });

  it('a definition made over the API backfills per partition, resumes after a lease takeover, and goes live once with the right members', async () => {
    const { config, url } = await deployment(2, { engine: { commitIntervalMs: 20, backfillChunk: 100 } });
    const clock = new ManualClock(T0);
    const { api, w1, w2 } = await apiAndTwoWorkers(config, clock, 2);
    const users = Array.from({ length: 3_000 }, (_, u) => u);
    await send(api, users.map((u) => ({ type: 'track', userId: `user${u}`, event: 'Order Completed', messageId: `o-${u}`, properties: { price: u % 7 }, timestamp: new Date(T0 - DAY).toISOString() })));
    await drainAll(w1, w2);

    // Suspended at its first commit of the backfill: the rest of its partition's pass is left to w2.
    const held = w1.cluster!.partitionsHeld();
    let suspended: Promise<void> | undefined;
    w1.cluster!.onCommit(() => {
      suspended ??= w1.cluster!.suspend();
    });
    await api.segments.put('segment', { name: 'spenders', condition: 'traits.revenue >= 4' });
    await waitFor(() => suspended !== undefined, 10_000, 'w1 committed a chunk of the backfill');
    await suspended;
    const progress = async () => (await sql<{ partition: number; cursor: number; done: boolean }>(url, `SELECT partition, cursor, done FROM segment_backfills WHERE name = 'spenders'`)).filter((b) => held.includes(b.partition));
    await new Promise((r) => setTimeout(r, 100));
    const left = await progress();
    assert.ok(left.some((b) => !b.done && b.cursor > 0), `w1 left its backfill half done: ${JSON.stringify(left)}`);
    // The stored progress only moves forward: w2 resumes from it rather than starting over.
    let lowest = Infinity;
    await waitFor(
      async () => {
        for (const b of await progress()) if (!b.done) lowest = Math.min(lowest, b.cursor);
        return (await api.segments.get('segment', 'spenders')).status === 'live';
      },
      20_000,
      'the segment goes live once every partition is done',
    );
    assert.ok(lowest >= Math.min(...left.filter((b) => !b.done).map((b) => b.cursor)), 'the backfill resumed from the stored cursor');
    await drainAll(w2);
    const members = [...(await api.segments.memberIds('spenders'))].sort();
    assert.deepEqual(new Map([['segment spenders', members]]), new Map([...(await fromScratch(api, url))].filter(([k]) => k === 'segment spenders')), 'the members are right');
    assert.equal(members.length, users.filter((u) => u % 7 >= 4).length);
    const entries = await sql<{ profile_id: string; n: number }>(url, `SELECT profile_id, COUNT(*)::int AS n FROM segment_history WHERE segment = 'spenders' GROUP BY profile_id`);
    assert.equal(entries.length, members.length, 'only members changed');
    assert.ok(entries.every((e) => e.n === 1), 'each entered exactly once, despite the takeover');
    const notified = await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM outbox WHERE kind = 'segment.entered'`);
    assert.equal(notified[0]!.n, members.length, 'one notification each');
  });
});
