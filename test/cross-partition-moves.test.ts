/**
 * What goes with a profile across partitions on PostgreSQL + NATS, compared
 * with the embedded mode for the same operations and against a rebuild: the
 * link an unmerge removed stays removed wherever the profile moves, and a
 * profile that goes with an erased person's link joins their suppression
 * list.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { emailHasher } from '../src/ingest/email.ts';
import { partitionOf } from '../src/log/index.ts';
import { LeaseStore } from '../src/cluster/index.ts';
import { clearPartitions } from '../src/portrait/rebuild.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { assertOneOwner, clusterDeployment, comparableDump, waitFor } from './support/cluster.ts';
import { assertSamePersons, BASE, conflicts, partitionedDeployments, persons, sendPhases } from './support/cross-partition.ts';
import { openMemory, T0 } from './support/open.ts';
import { serviceSkip } from './support/services.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const { assertRebuilds, resumeWorkers } = partitionedDeployments(cleanups);

const hash = emailHasher(Buffer.from('ab'.repeat(32), 'hex'));

/** The first `prefix<i>suffix` for which `ok` holds (ids hold a '.': no generated id or hash in the state has one). */
function first(prefix: string, suffix: string, ok: (id: string) => boolean): string {
  for (let i = 0; ; i++) if (ok(`${prefix}${i}${suffix}`)) return `${prefix}${i}${suffix}`;
}

describe('what goes with a profile across partitions (PostgreSQL + NATS)', { skip }, () => {
  it('a profile unmerged on partition 1 whose side then moves to partition 0: a new event linking the unmerged pair again is refused there (unlinked), as in the embedded mode; a rebuild equals it', async () => {
    // The person: a user id and an anonymous id both homed in 1 (their profile lives there, and the unmerge splits it
    // there). Another profile, of an anonymous id and an email homed in 0: the anonymous side links to that email after
    // the unmerge, so partition 1 hands it down to 0, and the re-link of the pair is answered by 0.
    const on = (p: number) => (id: string) => partitionOf('default', id, 2) === p;
    const u = first('ub.user.', '.', on(1));
    const a = first('ub.anon.', '.', on(1));
    const z = first('ub.other.', '.', on(0));
    const email = first('ub.', '@example.com', (e) => on(0)(hash('default', e)!));
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const before: unknown[][] = [
      [
        { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, messageId: 'ub-0', timestamp: at() },
        { type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima' }, messageId: 'ub-1', timestamp: at() },
        { type: 'track', userId: u, event: 'Order Completed', properties: { revenue: 30 }, messageId: 'ub-2', timestamp: at() },
        { type: 'track', anonymousId: z, event: 'Product Viewed', properties: { category: 'toys' }, context: { traits: { email } }, messageId: 'ub-3', timestamp: at() },
      ],
    ];
    const after: unknown[][] = [
      // The anonymous side links to the email owned by 0: it moves there.
      [{ type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'games' }, context: { traits: { email } }, messageId: 'ub-4', timestamp: at() }],
      // The unmerged pair again, then activity on each side.
      [{ type: 'identify', userId: u, anonymousId: a, traits: { city: 'Paris' }, messageId: 'ub-5', timestamp: at() }],
      [
        { type: 'track', userId: u, event: 'Order Completed', properties: { revenue: 7 }, messageId: 'ub-6', timestamp: at() },
        { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, messageId: 'ub-7', timestamp: at() },
      ],
    ];
    const run = async (p: Portrait) => {
      await sendPhases(p, before);
      await p.unmerge(`user:${u}`, `anon:${a}`);
      await p.drain();
      await sendPhases(p, after);
    };

    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await run(embeddedNode);
    const want = await persons(embeddedNode);
    const wantConflicts = await conflicts(embeddedNode);
    assert.ok(wantConflicts.includes(`unlinked user:${u} anon:${a}`), 'the embedded mode refuses the re-link as unlinked');
    assert.notEqual((await embeddedNode.profile('user_id', u))?.id, (await embeddedNode.profile('anonymous_id', a))?.id, 'and keeps the two apart');

    const config = await clusterDeployment(2, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    const worker = await Portrait.open(config({ role: 'worker', workerId: 'w' }), { clock });
    cleanups.push(() => api.close(), () => worker.close());
    await run(api);

    const byAnon = await api.profile('anonymous_id', a);
    assert.equal(byAnon?.id, (await api.profile('email', email))?.id, 'the anonymous side joined the profile owned by 0');
    assert.notEqual((await api.profile('user_id', u))?.id, byAnon?.id, 'the re-link did not join the unmerged pair');
    assert.deepEqual(await conflicts(api), wantConflicts, 'the same refused links, for the same reasons, as the embedded mode');
    assertSamePersons(await persons(api), want);
    const state = await api.stateDump();
    const blocks = state.filter((l) => l.startsWith('partition_blocks ')).map((l) => JSON.parse(l.slice('partition_blocks '.length)) as { partition: number; a: string; b: string });
    assert.deepEqual(
      blocks.map((b) => [b.partition, b.a, b.b]),
      [0, 1].map((p) => [p, `anon:${a}`, `user:${u}`]),
      'the block is held where the unmerge happened and where the profile moved',
    );
    assertOneOwner(state);
    await worker.close();
    await assertRebuilds(config, clock, state);
  });

  /**
   * A person linked to another profile just before their erasure, as in the
   * embedded mode: the person's user id is homed in 1 (`lower`: the profile
   * they link to, an anonymous id's, is owned by 0 and asks 1 for the
   * person's profile with a give) or in 0 (`higher`: the anonymous id's
   * profile, owned by 1, is handed down to 0 after the erasure). Returns the
   * state once the erasure completed and the later events were sent, with
   * no worker left running.
   */
  async function linkedErasure(owner: 'lower' | 'higher', suppress: boolean) {
    const [personOn, otherOn] = owner === 'lower' ? [1, 0] : [0, 1];
    const on = (p: number) => (id: string) => partitionOf('default', id, 2) === p;
    const xu = first(`sup.${owner}.${suppress}.user.`, '.', on(personOn));
    const ya = first(`sup.${owner}.${suppress}.anon.`, '.', on(otherOn));
    let t = T0 - 86_400_000;
    let n = 0;
    const at = () => new Date((t += 1000)).toISOString();
    const track = (ids: Record<string, string>, price: number) => ({ type: 'track', ...ids, event: 'Order Completed', properties: { price }, messageId: `sup-${owner}-${suppress}-${n++}`, timestamp: at() });
    const phases: unknown[][] = [[track({ userId: xu }, 3), track({ anonymousId: ya }, 5), track({ userId: `sup.${owner}.${suppress}.other.` }, 7)]];
    const link = { type: 'identify', userId: xu, anonymousId: ya, traits: { city: 'Lima' }, messageId: `sup-${owner}-${suppress}-link`, timestamp: at() };
    // After the erasure: the linked anonymous id again (refused), and someone else (accepted).
    const later = [track({ anonymousId: ya }, 11), track({ userId: `sup.${owner}.${suppress}.other.` }, 13)];

    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await sendPhases(embeddedNode, [...phases, [link]]);
    assert.equal((await embeddedNode.privacy.waitFor((await embeddedNode.privacy.erase('user_id', xu, { suppress })).id)).status, 'completed');
    const wantLater = await embeddedNode.ingest(later);
    assert.deepEqual([wantLater.accepted, wantLater.suppressed], suppress ? [1, 1] : [2, 0], 'the embedded mode refuses the linked anonymous id\'s later event only when the erasure suppressed the person');
    await embeddedNode.drain();
    const want = await persons(embeddedNode);

    const config = await clusterDeployment(2, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    const firstWorker = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => firstWorker.close());
    await sendPhases(api, phases);
    await firstWorker.close();
    // No worker runs: the link and the erase record both land in the person's partition, which erases them before
    // the other partition answers the link; the erasure request finds the person's profile without the anonymous id.
    await api.ingest([link]);
    const entry = await api.privacy.erase('user_id', xu, { suppress });
    const next = await resumeWorkers(api, config, clock, [entry.id]);
    assert.equal(await api.profile('anonymous_id', ya), undefined, 'the linked profile went with the person');

    const got = await api.ingest(later);
    assert.deepEqual([got.accepted, got.suppressed], [wantLater.accepted, wantLater.suppressed], 'the linked anonymous id\'s later event is refused at ingest, as in the embedded mode');
    await api.drain();
    if (suppress) assert.equal(await api.profile('anonymous_id', ya), undefined, 'and does not bring it back');
    else assert.equal((await api.profile('anonymous_id', ya))?.eventCount, 1, 'it comes back as a new profile with the later event only');
    assertSamePersons(await persons(api), want);
    const state = await api.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(xu) || (suppress && l.includes(ya))), [], 'no state line names the person (nor the linked anonymous id, when suppressed)');
    assertOneOwner(state);
    await next.close();
    return { config, clock, api, state, ya, track };
  }

  const cases = [
    { owner: 'lower', suppress: true },
    { owner: 'higher', suppress: true },
    { owner: 'lower', suppress: false },
  ] as const;
  for (const { owner, suppress } of cases) {
    const outcome = suppress ? 'joins their suppression list: its identifiers\' later events are refused at ingest' : 'is not suppressed by a retention erasure: its identifiers\' later events count again';
    it(`a profile owned by a ${owner} partition that goes with an erased person's link answered after the erasure ${outcome}, as in the embedded mode; a rebuild equals it`, async () => {
      const { config, clock, state, ya, track } = await linkedErasure(owner, suppress);
      await assertRebuilds(config, clock, state);

      // Another API node, opened now, reads the same list from the store.
      const other = await Portrait.open(config({ role: 'api' }), { clock });
      cleanups.push(() => other.close());
      assert.equal((await other.ingest([track({ anonymousId: ya }, 17)])).suppressed, suppress ? 1 : 0, 'a node opened later reads the same list');
    });
  }

  it("workers replaying a log whose state was cleared (a rebuild stopped midway) apply another partition's `forget` only once that partition has replayed as far: the state then equals the one before", async () => {
    const { config, clock, api, state } = await linkedErasure('lower', true);
    const store = await PostgresStore.open({ url: config().cluster!.databaseUrl!, migrate: false });
    cleanups.push(() => store.close());
    await clearPartitions(store, (await store.definitions()).map((r) => ({ ...r, status: 'live', backfillCursor: 0, backfillTarget: 0 })), 2);
    // Partition 0 is held by a worker that replays nothing (one that does not know the fence, say), so the worker
    // started now replays partition 1 alone: its records are at positions 1 and 3 (the person's and someone else's
    // events), 4 (the link), 5 (the erasure), then 8 (partition 0's `forget` of the profile the link joined, made
    // at position 7) and 9.
    const holder = new LeaseStore(store.pool, 60_000);
    const token = await holder.acquire(0, 'holder');
    assert.ok(token !== undefined, 'the holder has partition 0');
    const worker = await Portrait.open(config({ role: 'worker', workerId: 'w' }), { clock });
    cleanups.push(() => worker.close());
    await waitFor(async () => (await store.position(1)) >= 5, 15_000, async () => `partition 1 replays up to the erasure (at ${await store.position(1)})`);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await store.position(1), 5, 'and waits there for partition 0, which has not made its `forget` yet');
    assert.equal(await store.position(0), 0, 'which replayed nothing');

    await holder.release(0, 'holder', token);
    await waitFor(async () => (await store.position(0)) >= 7 && (await store.position(1)) >= 9, 30_000, async () => `both partitions replay to their end (at ${await store.position(0)} and ${await store.position(1)})`);
    await worker.drain();
    assert.deepEqual(comparableDump(await api.stateDump()), comparableDump(state), 'the replayed state equals the one before');
  });
});
