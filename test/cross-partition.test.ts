/**
 * Identity merges across partitions on PostgreSQL + NATS: a person's
 * identifiers hash to several partitions, and links between them merge
 * profiles through control records in the log. Compared with the embedded
 * mode for the same events (person by person: profile ids differ), against
 * a rebuild, and across a worker that dies between its commit and the
 * publish of its control records.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../src/core/clock.ts';
import type { ControlRecord } from '../src/core/control.ts';
import { Portrait } from '../src/index.ts';
import { emailHasher } from '../src/ingest/email.ts';
import { NatsEventLog, partitionOf } from '../src/log/index.ts';
import { PostgresStore } from '../src/storage/index.ts';
import { assertOneOwner, clusterDeployment, comparableDump, profilesOf, waitFor } from './support/cluster.ts';
import { assertSamePersons, BASE, conflicts, partitionedDeployments, persons, sendPhases } from './support/cross-partition.ts';
import { openMemory, T0 } from './support/open.ts';
import { NATS_URL, serviceSkip } from './support/services.ts';
import { rng } from './support/workload.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const { handingDown, resumeWorkers, assertRebuilds } = partitionedDeployments(cleanups);

/**
 * Traffic in phases (each phase is sent, then drained, so the order between
 * phases is the same in both modes): anonymous activity and an older user id;
 * identify and alias; a second device linked by email, and another person
 * claiming someone's anonymous id (refused: two user ids; `claims`: how
 * often); later activity,
 * anonymous only or with both ids, group calls and activity attributed to
 * accounts, and duplicates.
 */
function scenario(seed: number, people: number, claims = 0.3): unknown[][] {
  const r = rng(seed);
  let n = 0;
  let t = T0 - 20 * 86_400_000;
  const msg = (m: Record<string, unknown>) => ({ ...m, messageId: `s${seed}-${n++}`, timestamp: new Date((t += 1000 + Math.floor(r() * 5000))).toISOString() });
  const track = (ids: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const x = r();
    const body = x < 0.5 ? { event: 'Product Viewed', properties: { category: ['books', 'games', 'toys'][Math.floor(r() * 3)], price: Math.floor(r() * 50) } } : { event: 'Order Completed', properties: { revenue: Math.floor(r() * 200), price: Math.floor(r() * 90) } };
    return msg({ type: 'track', ...ids, ...body, ...extra });
  };
  const phases: unknown[][] = [[], [], [], []];
  const persons = Array.from({ length: people }, (_, i) => ({ user: `u${seed}_${i}`, anons: [`a${seed}_${i}_0`, `a${seed}_${i}_1`], email: r() < 0.6 ? `p${seed}_${i}@example.com` : undefined, old: r() < 0.4 ? `old${seed}_${i}` : undefined }));
  for (const p of persons) {
    for (const a of p.anons) for (let k = 1 + Math.floor(r() * 3); k > 0; k--) phases[0]!.push(track({ anonymousId: a }));
    if (p.old !== undefined) phases[0]!.push(track({ userId: p.old }), msg({ type: 'identify', userId: p.old, traits: { occupation: 'teacher' } }));
  }
  for (const p of persons) {
    phases[1]!.push(msg({ type: 'identify', userId: p.user, anonymousId: p.anons[0], traits: { city: ['Lima', 'Paris', 'Lagos'][Math.floor(r() * 3)], ...(p.email && { email: p.email }) } }));
    if (p.old !== undefined) phases[1]!.push(msg({ type: 'alias', previousId: p.old, userId: p.user }));
  }
  persons.forEach((p, i) => {
    if (p.email !== undefined) phases[2]!.push(track({ anonymousId: p.anons[1] }, { context: { traits: { email: p.email } } }));
    else phases[2]!.push(msg({ type: 'identify', userId: p.user, anonymousId: p.anons[1] }));
    const other = persons[(i + 1) % persons.length]!;
    if (people > 1 && r() < claims) phases[2]!.push(msg({ type: 'identify', userId: other.user, anonymousId: p.anons[0] }));
  });
  for (const p of persons) {
    phases[3]!.push(track({ anonymousId: p.anons[0] }), track({ userId: p.user, anonymousId: p.anons[1] }), track({ userId: p.user }));
    if (r() < 0.4) phases[3]!.push(msg({ type: 'group', userId: p.user, groupId: `g${seed}_${Math.floor(r() * 3)}`, traits: { plan: 'pro' } }));
    // Activity attributed to accounts (context.groupId / context.groups): it counts for those group profiles too.
    if (r() < 0.4) phases[3]!.push(track({ userId: p.user }, { context: { groupId: `g${seed}_${Math.floor(r() * 3)}`, groups: { team: `t${seed}_${Math.floor(r() * 2)}` } } }));
  }
  // Duplicates: the same messages again (same messageId), which both modes drop.
  for (const phase of phases) for (const m of phase.slice(0, Math.ceil(phase.length / 10))) phase.push(structuredClone(m));
  return phases;
}

/**
 * A person of a scenario is erased right after new activity of theirs is
 * appended, without waiting for it: on partitioned workers the events reach
 * the owner of their profile (forwarded) before or after the erasure, and
 * either way nothing of them may stay. The first person who fed a group
 * (else the first person), whose late activity counts for that group too:
 * the groups they fed are recomputed without them. Their identifier keys.
 */
async function eraseMidActivity(p: Portrait, seed: number, phases: readonly unknown[][]): Promise<string[]> {
  const groupOf = (i: number) => {
    for (const m of phases.flat()) {
      const x = m as { userId?: string; type?: string; groupId?: string; context?: { groupId?: string } };
      if (x.userId !== `u${seed}_${i}`) continue;
      const g = x.type === 'group' ? x.groupId : x.context?.groupId;
      if (g !== undefined) return g;
    }
    return undefined;
  };
  const people = new Set(phases.flat().map((m) => (m as { userId?: string }).userId).filter((u) => u?.startsWith(`u${seed}_`))).size;
  let i = 0;
  while (i < people && groupOf(i) === undefined) i++;
  if (i === people) i = 0;
  const user = `u${seed}_${i}`;
  const group = groupOf(i);
  const anons = [`a${seed}_${i}_0`, `a${seed}_${i}_1`];
  const at = new Date(T0 - 3_600_000).toISOString();
  await p.ingest([
    { type: 'track', userId: user, event: 'Order Completed', properties: { revenue: 5 }, messageId: `late-${seed}-0`, timestamp: at, ...(group !== undefined && { context: { groupId: group } }) },
    { type: 'track', userId: user, anonymousId: anons[1], event: 'Product Viewed', properties: { category: 'books' }, messageId: `late-${seed}-1`, timestamp: at },
    { type: 'track', anonymousId: anons[0], event: 'Product Viewed', properties: { category: 'toys' }, messageId: `late-${seed}-2`, timestamp: at },
  ]);
  const entry = await p.privacy.erase('user_id', user);
  assert.equal((await p.privacy.waitFor(entry.id)).status, 'completed');
  return [`user:${user}`, ...anons.map((a) => `anon:${a}`)];
}

/** Traits defined over the API once the phases are in: their backfills fold events merged across partitions before. */
const LATE_TRAITS = [
  { name: 'late_views', kind: 'count', filter: { event: 'Product Viewed' } },
  { name: 'late_revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.revenue' },
  { name: 'late_top', kind: 'top', filter: { event: 'Product Viewed' }, key: 'properties.category', k: 2 },
] as const;

async function defineLate(p: Portrait): Promise<void> {
  for (const t of LATE_TRAITS) await p.putTrait({ ...t });
  await waitFor(async () => (await p.traitDefinitions()).every((d) => d.status === 'live'), 30_000, 'the late traits are live');
  await p.drain();
}

/** The same phases in the embedded mode (`erase`: then eraseMidActivity; `late`: then defineLate): the expected persons and refused links. */
async function embedded(phases: readonly unknown[][], erase?: number, late = false): Promise<{ persons: Map<string, unknown>; conflicts: string[]; accepted: number }> {
  const { p } = await openMemory({ ...BASE }, new ManualClock(T0));
  try {
    const accepted = await sendPhases(p, phases);
    if (erase !== undefined) await eraseMidActivity(p, erase, phases);
    if (late) await defineLate(p);
    return { persons: await persons(p), conflicts: await conflicts(p), accepted };
  } finally {
    await p.close();
  }
}

describe('identity merges across partitions (PostgreSQL + NATS)', { skip }, () => {
  it('identify, alias and email links across partitions, with two workers: one profile per person, one owner, the embedded mode\'s traits, and a rebuild equals it', async () => {
    const config = await clusterDeployment(8, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    const w1 = await Portrait.open(config({ role: 'worker', workerId: 'w1' }), { clock });
    const w2 = await Portrait.open(config({ role: 'worker', workerId: 'w2' }), { clock });
    cleanups.push(() => api.close(), () => w1.close(), () => w2.close());
    await waitFor(() => (w1.cluster?.partitionsHeld().length ?? 0) === 4 && (w2.cluster?.partitionsHeld().length ?? 0) === 4, 10_000, 'each worker holds four of the eight partitions');

    const phases = scenario(1, 40);
    const want = await embedded(phases);
    const accepted = await sendPhases(api, phases);
    assert.equal(accepted, want.accepted, 'the same events are accepted');
    const state = await api.stateDump();
    assert.ok(state.some((l) => l.startsWith('control_applied ')), 'partitions exchanged control records');
    assertOneOwner(state);
    assertSamePersons(await persons(api), want.persons);
    assert.deepEqual(await conflicts(api), want.conflicts, 'the same links are refused, for the same reasons');
    assert.ok(want.conflicts.some((c) => c.startsWith('different_user_ids ')), 'the scenario has refused links');
    const users = profilesOf(state).filter((d) => d.kind === 'user');
    assert.equal(users.reduce((n, d) => n + d.eventCount, 0), accepted, 'every event is counted once over the user profiles');

    // Reads by any identifier find the merged profile; an absorbed profile id reads as absent, as in the embedded mode.
    const merges = state.filter((l) => l.startsWith('merges ')).map((l) => JSON.parse(l.slice(7)) as { from: string; into: string });
    const gone = merges.find((m) => !users.some((d) => d.id === m.from));
    assert.ok(gone !== undefined, 'some profile was merged away');
    assert.equal(await api.profile('profile_id', gone.from), undefined, 'a merged-away profile id reads as absent');

    await w1.close();
    await w2.close();
    await assertRebuilds(config, clock, state);
  });

  it('for random workloads, some erasing a person amid their activity, each person\'s traits equal the embedded mode\'s, and a rebuild equals the incremental state (property)', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 1_000_000 }), fc.integer({ min: 2, max: 14 }), fc.constantFrom(3, 5, 8), fc.boolean(), async (seed, people, partitions, erase) => {
        const phases = scenario(seed, people);
        const want = await embedded(phases, erase ? seed : undefined);
        const config = await clusterDeployment(partitions, cleanups, BASE);
        // Short leases: under load the node loses and retakes partitions while it drains (their engines restart).
        const node = await Portrait.open(config({ workerId: `solo-${seed}`, leaseTimeoutMs: 150 }), { clock: new ManualClock(T0) });
        try {
          await sendPhases(node, phases);
          const erased = erase ? await eraseMidActivity(node, seed, phases) : [];
          const state = await node.stateDump();
          assertOneOwner(state);
          assert.deepEqual(state.filter((l) => erased.some((k) => l.includes(`"${k}"`))), [], 'nothing of the erased person stays, whenever their events reached the owner');
          assertSamePersons(await persons(node), want.persons);
          assert.deepEqual(await conflicts(node), want.conflicts, 'the same refused links');
          await node.rebuild();
          assert.deepEqual(comparableDump(await node.stateDump()), comparableDump(state), 'rebuild equals incremental');
        } finally {
          await node.close();
        }
      }),
      // [248024, 2, 5, true]: in the rebuild, the person's email (shredded by the erasure) no longer linked in
      // partition 1, a handover to it settled there, and the erasure's `forget` there told the others of the
      // person's identifiers again (new records, which a rebuild then published). [683041, 6, 5, true] failed once
      // under load: the erasing partition's count of dropped records was lower incrementally than in the rebuild
      // (an erasure's commit was not fenced against a worker that had lost the partition). [363964, 2, 3, true]:
      // the erased person's shredded email did not link in the rebuild, so their anonymous id stayed where the
      // stream had moved it from, and another person's refused claim of it settled under a new profile there
      // (an extra merge and history rows); a shredded email now leaves its reference, which links as the email did.
      { numRuns: 5, examples: [[2, 3, 3, true], [248024, 2, 5, true], [683041, 6, 5, true], [363964, 2, 3, true]] },
    );
  });

  it('traits defined over the API after profiles merged across partitions: each person\'s backfilled values equal the embedded mode\'s, and a rebuild equals the state (property)', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 1_000_000 }), fc.integer({ min: 2, max: 10 }), fc.constantFrom(3, 5, 8), async (seed, people, partitions) => {
        const phases = scenario(seed, people);
        const want = await embedded(phases, undefined, true);
        assert.ok([...want.persons.values()].some((v) => JSON.stringify(v).includes('late_views')), 'the embedded mode backfilled the late traits');
        const config = await clusterDeployment(partitions, cleanups, BASE);
        const node = await Portrait.open(config({ workerId: `late-${seed}` }), { clock: new ManualClock(T0) });
        try {
          await sendPhases(node, phases);
          assert.ok((await node.stateDump()).some((l) => l.startsWith('merges ')), 'profiles merged across partitions before the traits were defined');
          await defineLate(node);
          const state = await node.stateDump();
          assertOneOwner(state);
          assertSamePersons(await persons(node), want.persons);
          await node.rebuild();
          // A backfill writes no trait history (as in the embedded mode), a rebuild records the traits' changes event by event.
          const withoutHistory = (dump: readonly string[]) => comparableDump(dump).filter((l) => !l.startsWith('trait_history '));
          assert.deepEqual(withoutHistory(await node.stateDump()), withoutHistory(state), 'rebuild equals incremental');
        } finally {
          await node.close();
        }
      }),
      { numRuns: 3 },
    );
  });

  it('a purpose-bound trait defined after a profile moved to its owner: its backfilled value counts the events other partitions folded before, gated by the owner\'s consents at each event\'s time, as in the embedded mode; a rebuild equals it', async () => {
    const { config, clock, api, u, a } = await handingDown('gated');
    const worker = await Portrait.open(config({ role: 'worker', workerId: 'gated' }), { clock });
    cleanups.push(() => worker.close());
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    let n = 0;
    const order = (ids: Record<string, string>, price: number) => ({ type: 'track', ...ids, event: 'Order Completed', properties: { price }, messageId: `gated-${n++}`, timestamp: at() });
    // The user id's events (partition 1) before and after their marketing consent; the anonymous id's (partition 0)
    // too; then the identify that hands the user's profile down to 0, where the consents then are.
    const phases: unknown[][] = [
      [
        order({ userId: u }, 3),
        order({ anonymousId: a }, 5),
        { type: 'identify', userId: u, traits: { consent: { marketing: true } }, messageId: 'gated-consent', timestamp: at() },
        order({ userId: u }, 7),
        order({ anonymousId: a }, 11),
        order({ userId: u }, 13),
        { type: 'track', userId: 'gated.other.', event: 'Order Completed', properties: { price: 17 }, timestamp: at() },
      ],
      [{ type: 'identify', userId: u, anonymousId: a, messageId: 'gated-link', timestamp: at() }],
    ];
    const gated = [
      { name: 'mkt_orders', kind: 'count', purpose: 'marketing', filter: { event: 'Order Completed' } },
      { name: 'mkt_spend', kind: 'sum', value: 'properties.price', purpose: 'marketing', filter: { event: 'Order Completed' } },
    ];
    const define = async (p: Portrait) => {
      for (const d of gated) await p.putTrait(d);
      await waitFor(async () => (await p.traitDefinitions()).every((d) => d.status === 'live'), 30_000, 'the purpose-bound traits are live');
      await p.drain();
    };
    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await sendPhases(embeddedNode, phases);
    await define(embeddedNode);
    const want = await persons(embeddedNode);
    const traits = (await embeddedNode.profile('user_id', u, { now: T0 }))?.traits;
    assert.deepEqual([traits?.mkt_orders, traits?.mkt_spend], [3, 7 + 11 + 13], 'the embedded mode counts the merged profile\'s events from the consent\'s time on, whichever id they came with');

    await sendPhases(api, phases);
    const state0 = await api.stateDump();
    assert.ok(state0.some((l) => l.startsWith('merges ')), 'the profile moved to partition 0 before the traits were defined');
    await define(api);
    assertSamePersons(await persons(api), want);
    const state = await api.stateDump();
    assertOneOwner(state);
    await worker.close();
    await assertRebuilds(config, clock, state, (dump) => comparableDump(dump).filter((l) => !l.startsWith('trait_history ')));
  });

  for (const lagging of ['receiver', 'sender'] as const) {
    it(`a trait changed while a handover is on its way, the ${lagging} still on the old version: the moved profile's value equals the embedded mode's and a rebuild`, async () => {
      const { config, clock, api, u, a } = await handingDown('moved');
      const v1 = { name: 'moved_views', kind: 'count', filter: { event: 'Product Viewed' } };
      const v2 = { name: 'moved_views', kind: 'sum', filter: { event: 'Product Viewed' }, value: 'properties.price' };
      await api.putTrait(v1);
      // The receiver (partition 0) holds both partitions until the sender joins and takes 1.
      const receiver = await Portrait.open(config({ role: 'worker', workerId: 'receiver' }), { clock });
      cleanups.push(() => receiver.close());
      await waitFor(() => receiver.cluster?.partitionsHeld().length === 2, 30_000, 'the receiver holds both partitions');
      const sender = await Portrait.open(config({ role: 'worker', workerId: 'sender' }), { clock });
      cleanups.push(() => sender.close());
      // A hang guard, not a speed target: on a loaded machine a worker starting its threads and taking a partition over may take seconds.
      await waitFor(
        () => sender.cluster?.partitionsHeld().join() === '1' && receiver.cluster?.partitionsHeld().join() === '0',
        30_000,
        () => `the sender holds partition 1, the receiver 0 (the sender holds [${sender.cluster?.partitionsHeld().join()}], the receiver [${receiver.cluster?.partitionsHeld().join()}])`,
      );
      // The lagging worker has not noticed the change yet: it does not poll the definitions (as a worker between two polls).
      // Private in ClusterEngine: the poll that restarts partition engines on a definition change.
      const polls = (lagging === 'receiver' ? receiver : sender).cluster as unknown as { followDefinitions?: () => Promise<void> };
      polls.followDefinitions = async () => undefined;

      let t = T0 - 86_400_000;
      const view = (ids: Record<string, string>, price: number) => ({ type: 'track', ...ids, event: 'Product Viewed', properties: { price }, timestamp: new Date((t += 1000)).toISOString() });
      const phases: unknown[][] = [[view({ anonymousId: a }, 3), view({ userId: u }, 5), view({ userId: u }, 7)], [view({ userId: u }, 11), view({ userId: u }, 13), { type: 'identify', userId: u, anonymousId: a, timestamp: new Date((t += 1000)).toISOString() }, view({ userId: u }, 17)]];
      await sendPhases(api, phases.slice(0, 1));
      await api.putTrait(v2);
      const store = await PostgresStore.open({ url: config().cluster!.databaseUrl! });
      cleanups.push(() => store.close());
      const v2hash = (await store.definitions()).find((d) => d.name === 'moved_views')!.hash;
      const [ahead, behind] = lagging === 'receiver' ? [1, 0] : [0, 1];
      await waitFor(async () => (await store.partitionBackfills(ahead)).some((b) => b.name === 'moved_views' && b.hash === v2hash), 10_000, 'the other worker switched to the new version');
      assert.ok(!(await store.partitionBackfills(behind)).some((b) => b.hash === v2hash), `the ${lagging} has not switched yet`);
      // Folded under one version by the sender, then handed over with the profile to a receiver on the other.
      await sendPhases(api, phases.slice(1));
      // The lagging worker notices the change from now on, as its next poll would.
      delete polls.followDefinitions;
      await waitFor(async () => (await api.traitDefinitions()).every((d) => d.status === 'live'), 30_000, 'the new version is live');
      await api.drain();

      const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
      cleanups.push(() => embeddedNode.close());
      await embeddedNode.putTrait(v1);
      await sendPhases(embeddedNode, phases.slice(0, 1));
      await embeddedNode.putTrait(v2);
      await sendPhases(embeddedNode, phases.slice(1));
      await embeddedNode.drain();
      const want = (await embeddedNode.profile('user_id', u, { now: T0 }))?.traits.moved_views;
      assert.equal(want, 3 + 5 + 7 + 11 + 13 + 17, 'the embedded mode sums every view');
      const merged = await api.profile('user_id', u, { now: T0 });
      assert.equal(merged?.id, (await api.profile('anonymous_id', a, { now: T0 }))?.id, 'one profile');
      assert.equal(merged?.traits.moved_views, want, 'every view counts once in the moved profile');
      const state = await api.stateDump();
      assertOneOwner(state);

      await sender.close();
      await receiver.close();
      // A backfill writes no trait history (as in the embedded mode), a rebuild records the traits' changes event by event.
      await assertRebuilds(config, clock, state, (dump) => comparableDump(dump).filter((l) => !l.startsWith('trait_history ')));
    });
  }

  it('a worker that dies after committing and before publishing its control records: the next holder publishes them, duplicates change nothing, every event counts once', async () => {
    const config = await clusterDeployment(4, cleanups, BASE);
    const clock = new ManualClock(T0);
    const url = config().cluster!.databaseUrl!;
    const stream = config().cluster!.stream!;
    const store = await PostgresStore.open({ url });
    const raw = await NatsEventLog.open({ servers: NATS_URL, stream, partitions: 4 });
    cleanups.push(() => store.close(), () => raw.close());
    // Sent without draining between phases: no claims on another person's anonymous id, whose outcome depends on order.
    const phases = scenario(3, 24, 0);
    const want = await embedded(phases);

    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    // The first worker folds and commits but never gets to publish: its process "dies" after each commit.
    const publish = NatsEventLog.prototype.publishControl;
    NatsEventLog.prototype.publishControl = async () => {
      throw new Error('killed before publishing');
    };
    let waiting = 0;
    const dying = await Portrait.open(config({ role: 'worker', workerId: 'dying' }), { clock });
    try {
      for (const m of phases.flat()) await api.ingest([m]);
      await waitFor(async () => {
        const heads = await raw.partitionHeads();
        for (let p = 0; p < 4; p++) if ((await store.position(p)) < (heads.get(p) ?? 0)) return false;
        return true;
      }, 30_000, 'the first worker committed everything in the log');
      waiting = await store.controlWaiting();
      await dying.cluster!.suspend();
    } finally {
      NatsEventLog.prototype.publishControl = publish;
    }
    assert.ok(waiting > 0, `control records were committed and not published (${waiting})`);
    // A stale copy of each waiting record lands too (as a publish long before, outside JetStream's duplicate window would).
    const pending: ControlRecord[] = [];
    for (let p = 0; p < 4; p++) pending.push(...(await store.pendingControl(p, 10_000)));
    await raw.publishControl(pending.map((r) => ({ ...r, messageId: `${r.messageId}-again` })));

    const next = await Portrait.open(config({ role: 'worker', workerId: 'next', leaseTimeoutMs: 900 }), { clock });
    cleanups.push(() => next.close(), () => dying.close());
    await waitFor(() => next.cluster?.partitionsHeld().length === 4, 10_000, 'the next worker took every partition over');
    await api.drain();
    assert.equal(await store.controlWaiting(), 0, 'the next holder published what was waiting');
    const state = await api.stateDump();
    assertOneOwner(state);
    assertSamePersons(await persons(api), want.persons);
    const users = profilesOf(state).filter((d) => d.kind === 'user');
    assert.equal(users.reduce((n, d) => n + d.eventCount, 0), want.accepted, 'every event is counted exactly once');
    await next.close();
    await assertRebuilds(config, clock, state);
  });
  it('an unmerge of a link that crossed partitions splits the profile where it lives; an erasure leaves nothing of the person in state', async () => {
    const config = await clusterDeployment(4, cleanups, BASE);
    const node = await Portrait.open(config({ workerId: 'solo' }), { clock: new ManualClock(T0) });
    cleanups.push(() => node.close());
    // Pairs whose user and anonymous ids hash to different partitions. The ids hold a '.', which no generated id,
    // message id or hash in the state has, so searching the state's lines for them cannot match by chance.
    const pairs: Array<{ u: string; a: string }> = [];
    for (let i = 0; pairs.length < 2; i++) if (partitionOf('default', `user.${i}.`, 4) !== partitionOf('default', `anon.${i}.`, 4)) pairs.push({ u: `user.${i}.`, a: `anon.${i}.` });
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    for (const { u, a } of pairs) {
      await node.ingest([
        { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, timestamp: at() },
        { type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima', email: `${u}@example.com` }, timestamp: at() },
        { type: 'track', userId: u, event: 'Order Completed', properties: { price: 10 }, timestamp: at() },
      ]);
    }
    await node.drain();
    const [one, two] = pairs as [{ u: string; a: string }, { u: string; a: string }];
    assert.equal((await node.profile('anonymous_id', one.a))?.id, (await node.profile('user_id', one.u))?.id, 'merged across partitions first');

    await node.unmerge(`user:${one.u}`, `anon:${one.a}`);
    await node.drain();
    const byUser = await node.profile('user_id', one.u);
    const byAnon = await node.profile('anonymous_id', one.a);
    assert.notEqual(byUser?.id, byAnon?.id, 'the unmerge split them');
    assert.deepEqual([byUser?.eventCount, byAnon?.eventCount], [2, 1], 'each side refolded from its own events');
    await node.ingest([{ type: 'identify', userId: one.u, anonymousId: one.a, timestamp: at() }]);
    await node.drain();
    assert.notEqual((await node.profile('user_id', one.u))?.id, (await node.profile('anonymous_id', one.a))?.id, 'a later event does not link them again');
    assertOneOwner(await node.stateDump());

    const entry = await node.privacy.erase('anonymous_id', two.a);
    await node.privacy.waitFor(entry.id);
    assert.equal(await node.profile('user_id', two.u), undefined, 'the erased person reads as absent by user id');
    assert.equal(await node.profile('anonymous_id', two.a), undefined, 'and by anonymous id');
    const state = await node.stateDump();
    const named = state.filter((l) => l.includes(two.u) || l.includes(two.a));
    assert.deepEqual(named, [], 'no state line names the erased person');
    await node.rebuild();
    const again = await node.stateDump();
    assert.deepEqual(comparableDump(again), comparableDump(state), 'a rebuild gives the same state');
  });

  it('an erasure recomputes the groups the person fed wherever they are homed, without the person: a group only they fed goes, a shared one keeps the others\' events; the embedded mode\'s groups, and a rebuild equals it', async () => {
    const config = await clusterDeployment(4, cleanups, BASE);
    const node = await Portrait.open(config({ workerId: 'solo' }), { clock: new ManualClock(T0) });
    cleanups.push(() => node.close());
    // The ids hold a '.', which no generated id or hash in the state has: a search of the state's lines cannot match by chance.
    const x = 'grouped.user.x.';
    const y = 'grouped.user.y.';
    const owner = partitionOf('default', x, 4);
    const homed = (here: boolean, prefix: string) => {
      let i = 0;
      while ((partitionOf('default', `${prefix}.${i}.`, 4) === owner) !== here) i++;
      return `${prefix}.${i}.`;
    };
    // Only x feeds `alone` (homed elsewhere) and `local` (homed with x's profile); x and y feed `shared`.
    const alone = homed(false, 'grouped.alone');
    const local = homed(true, 'grouped.local');
    const shared = homed(false, 'grouped.shared');
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const phases: unknown[][] = [
      [
        { type: 'group', userId: x, groupId: alone, traits: { plan: 'pro' }, messageId: 'g-0', timestamp: at() },
        { type: 'group', userId: x, groupId: local, traits: { plan: 'team' }, messageId: 'g-1', timestamp: at() },
        { type: 'group', userId: y, groupId: shared, traits: { plan: 'free' }, messageId: 'g-2', timestamp: at() },
        { type: 'track', userId: x, event: 'Order Completed', properties: { revenue: 40 }, context: { groupId: shared, groups: { team: alone } }, messageId: 'g-3', timestamp: at() },
        { type: 'track', userId: y, event: 'Order Completed', properties: { revenue: 7 }, context: { groupId: shared }, messageId: 'g-4', timestamp: at() },
        { type: 'group', userId: x, groupId: shared, traits: { plan: 'enterprise' }, messageId: 'g-5', timestamp: at() },
        { type: 'track', userId: x, event: 'Product Viewed', properties: { category: 'books' }, context: { groupId: local }, messageId: 'g-6', timestamp: at() },
      ],
    ];
    const erase = async (p: Portrait) => {
      const entry = await p.privacy.erase('user_id', x);
      assert.equal((await p.privacy.waitFor(entry.id)).status, 'completed');
      await p.drain();
    };
    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await sendPhases(embeddedNode, phases);
    await erase(embeddedNode);
    const want = await persons(embeddedNode);

    await sendPhases(node, phases);
    assert.equal((await node.profile('group_id', alone))?.eventCount, 2, 'before the erasure, x fed the group homed elsewhere');
    await erase(node);
    assert.equal(await node.profile('group_id', alone), undefined, 'a group homed elsewhere that only the erased person fed goes');
    assert.equal(await node.profile('group_id', local), undefined, 'and one homed with their profile');
    const left = await node.profile('group_id', shared, { now: T0 });
    assert.equal(left?.eventCount, 2, 'a shared group keeps the other member\'s events only');
    assert.equal(left?.attributes.plan, 'free', 'and their traits');
    assertSamePersons(await persons(node), want);
    const state = await node.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(x) || l.includes(alone) || l.includes(local)), [], 'no state line names the erased person or the groups only they fed');
    assertOneOwner(state);
    await node.rebuild();
    assert.deepEqual(comparableDump(await node.stateDump()), comparableDump(state), 'a rebuild gives the same state');
  });

  it('a handover from before an erasure that reaches its receiver before the receiver\'s forget record: the forget removes what it made there, and nothing of the person stays; a rebuild equals it', async () => {
    const { config, clock, api, u, a } = await handingDown('inflight');
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const phases: unknown[][] = [
      [
        // `name` is personal data (privacy.piiFields): sealed with the data key of the event's owner.
        { type: 'track', userId: u, event: 'Order Completed', properties: { revenue: 10, name: 'Ann' }, messageId: 'f-0', timestamp: at() },
        { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books', name: 'Ann' }, messageId: 'f-1', timestamp: at() },
        { type: 'track', userId: 'inflight.other.', event: 'Product Viewed', properties: { category: 'toys', name: 'Bob' }, messageId: 'f-2', timestamp: at() },
        // A group only they fed.
        { type: 'group', userId: u, groupId: 'inflight.team.', traits: { plan: 'pro' }, messageId: 'f-g', timestamp: at() },
      ],
    ];
    const first = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => first.close());
    await sendPhases(api, phases);
    await first.close();
    // No worker runs: the identify and the erase record both land in partition 1 (the profile's owner when the
    // erasure is requested). Partition 1 then hands the profile to 0 and erases, so 0 meets the handover first.
    await api.ingest([{ type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima' }, messageId: 'f-3', timestamp: at() }]);
    const entry = await api.privacy.erase('user_id', u);
    const next = await resumeWorkers(api, config, clock, [entry.id]);

    assert.equal(await api.profile('user_id', u), undefined, 'the erased person reads as absent by user id');
    assert.equal(await api.profile('anonymous_id', a), undefined, 'and by the anonymous id the handover joined');
    assert.equal((await api.profile('user_id', 'inflight.other.'))?.eventCount, 1, 'someone else stays');
    assert.equal(await api.profile('group_id', 'inflight.team.'), undefined, 'a group only they fed goes');
    const state = await api.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(u) || l.includes(a) || l.includes('inflight.team.')), [], 'no state line names the erased person');
    assertOneOwner(state);
    await next.close();
    await assertRebuilds(config, clock, state);
    assert.equal((await api.shred('user_id', u)).destroyed, 0, "the person's data keys are destroyed");
    assert.equal((await api.shred('anonymous_id', a)).destroyed, 0, 'those of the identifier the handover joined too');
    assert.equal((await api.shred('user_id', 'inflight.other.')).destroyed, 1, 'someone else still had one (control; shredded last, as it changes what a rebuild reads)');
  });

  it('a link made before an erasure to a profile owned by a lower partition that had not answered it by then: that profile goes with the person, as in the embedded mode; a rebuild equals it', async () => {
    const config = await clusterDeployment(3, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    // The person: an anonymous id homed in 1. The profile they link to: a user id owned by 0, holding an email homed
    // in 2, so the link goes 1 → 2 (the email's home) → 0, which asks 1 to hand the person's profile down (give).
    // The ids hold a '.', which no generated id or hash in the state has: a search of the state's lines cannot match by chance.
    const hash = emailHasher(Buffer.from('ab'.repeat(32), 'hex'));
    const find = (ok: (i: number) => boolean) => {
      let i = 0;
      while (!ok(i)) i++;
      return i;
    };
    const xa = `joined.anon.${find((i) => partitionOf('default', `joined.anon.${i}.`, 3) === 1)}.`;
    const yu = `joined.user.${find((i) => partitionOf('default', `joined.user.${i}.`, 3) === 0)}.`;
    const email = `joined.${find((i) => partitionOf('default', hash('default', `joined.${i}@example.com`)!, 3) === 2)}@example.com`;
    const emailKey = hash('default', email)!;
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const phases: unknown[][] = [
      [
        { type: 'identify', userId: yu, traits: { email, city: 'Lima' }, messageId: 'j-0', timestamp: at() },
        { type: 'track', userId: yu, event: 'Order Completed', properties: { revenue: 30 }, messageId: 'j-1', timestamp: at() },
        { type: 'group', userId: yu, groupId: 'joined.team.', traits: { plan: 'pro' }, messageId: 'j-g', timestamp: at() },
        { type: 'track', anonymousId: xa, event: 'Product Viewed', properties: { category: 'books' }, messageId: 'j-2', timestamp: at() },
        { type: 'track', userId: 'joined.other.', event: 'Product Viewed', properties: { category: 'toys' }, messageId: 'j-3', timestamp: at() },
      ],
    ];
    const link = { type: 'track', anonymousId: xa, event: 'Product Viewed', properties: { category: 'games' }, context: { traits: { email } }, messageId: 'j-4', timestamp: at() };
    const eraseX = async (p: Portrait) => {
      const entry = await p.privacy.erase('anonymous_id', xa);
      return entry.id;
    };
    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await sendPhases(embeddedNode, [...phases, [link]]);
    assert.equal((await embeddedNode.privacy.waitFor(await eraseX(embeddedNode))).status, 'completed');
    await embeddedNode.drain();
    assert.equal(await embeddedNode.profile('user_id', yu), undefined, 'in the embedded mode the linked profile goes with the person');
    const want = await persons(embeddedNode);

    const first = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => first.close());
    await sendPhases(api, phases);
    assert.equal((await api.profile('email', email))?.id, (await api.profile('user_id', yu))?.id, 'the email joined the user id owned by 0');
    await first.close();
    // No worker runs: the link and the erase record both land in partition 1, so 1 erases the person before the
    // answer to their link comes back from 0.
    await api.ingest([link]);
    const entry = await eraseX(api);
    const next = await resumeWorkers(api, config, clock, [entry]);

    assert.equal(await api.profile('anonymous_id', xa), undefined, 'the erased person reads as absent');
    assert.equal(await api.profile('user_id', yu), undefined, 'the profile they linked to went with them');
    assert.equal(await api.profile('group_id', 'joined.team.'), undefined, 'and a group only it fed');
    assert.equal((await api.profile('user_id', 'joined.other.'))?.eventCount, 1, 'someone else stays');
    assertSamePersons(await persons(api), want);
    const state = await api.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(xa) || l.includes(yu) || l.includes(emailKey) || l.includes('joined.team.')), [], 'no state line names either');
    assertOneOwner(state);
    await next.close();
    await assertRebuilds(config, clock, state);
    assert.equal((await api.shred('user_id', yu)).destroyed, 0, "the linked profile's data keys are destroyed");
    // The owner answered with a give after the erasure: the linked profile joined the person's suppression list, as
    // the embedded mode's request (made once the link had merged) listed it.
    const again = { type: 'track', userId: yu, event: 'Product Viewed', properties: { category: 'toys' }, messageId: 'j-5', timestamp: at() };
    assert.equal((await embeddedNode.ingest([again])).suppressed, 1, 'the embedded mode refuses the linked user id');
    assert.equal((await api.ingest([again])).suppressed, 1, 'so does the partitioned mode');
  });

  it('a link made before an erasure to a profile owned by a higher partition that had not answered it by then: the profile it hands down after the erasure goes with the person, as in the embedded mode; a rebuild equals it', async () => {
    const config = await clusterDeployment(2, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    // The person: a user id homed in 0. The profile they link to: an anonymous id homed in 1, which answers the link
    // by handing its profile down to 0. (A '.' in the ids: a search of the state's lines cannot match by chance.)
    let i = 0;
    while (!(partitionOf('default', `down.user.${i}.`, 2) === 0 && partitionOf('default', `down.anon.${i}.`, 2) === 1)) i++;
    const [xu, ya] = [`down.user.${i}.`, `down.anon.${i}.`];
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const phases: unknown[][] = [
      [
        { type: 'track', userId: xu, event: 'Order Completed', properties: { revenue: 30 }, messageId: 'd-0', timestamp: at() },
        { type: 'track', anonymousId: ya, event: 'Product Viewed', properties: { category: 'books', name: 'Ann' }, messageId: 'd-1', timestamp: at() },
        { type: 'group', anonymousId: ya, groupId: 'down.team.', traits: { plan: 'pro' }, messageId: 'd-g', timestamp: at() },
        { type: 'track', userId: 'down.other.', event: 'Product Viewed', properties: { category: 'toys' }, messageId: 'd-2', timestamp: at() },
      ],
    ];
    const link = { type: 'identify', userId: xu, anonymousId: ya, traits: { city: 'Lima' }, messageId: 'd-3', timestamp: at() };
    const { p: embeddedNode } = await openMemory({ ...BASE }, new ManualClock(T0));
    cleanups.push(() => embeddedNode.close());
    await sendPhases(embeddedNode, [...phases, [link]]);
    assert.equal((await embeddedNode.privacy.waitFor((await embeddedNode.privacy.erase('user_id', xu)).id)).status, 'completed');
    await embeddedNode.drain();
    assert.equal(await embeddedNode.profile('anonymous_id', ya), undefined, 'in the embedded mode the linked profile goes with the person');
    const want = await persons(embeddedNode);

    const first = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => first.close());
    await sendPhases(api, phases);
    await first.close();
    // No worker runs: the link and the erase record both land in partition 0, which erases the person before
    // partition 1 hands the linked profile down.
    await api.ingest([link]);
    const entry = await api.privacy.erase('user_id', xu);
    const next = await resumeWorkers(api, config, clock, [entry.id]);

    assert.equal(await api.profile('user_id', xu), undefined, 'the erased person reads as absent');
    assert.equal(await api.profile('anonymous_id', ya), undefined, 'the profile they linked to went with them');
    assert.equal(await api.profile('group_id', 'down.team.'), undefined, 'and a group only it fed');
    assertSamePersons(await persons(api), want);
    const state = await api.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(xu) || l.includes(ya) || l.includes('down.team.')), [], 'no state line names either');
    assertOneOwner(state);
    await next.close();
    await assertRebuilds(config, clock, state);
    assert.equal((await api.shred('anonymous_id', ya)).destroyed, 0, "the linked profile's data keys are destroyed");
  });

  it('an identifier whose erasure did not suppress it, used again before its home met the erasure and again after: one new profile with both events, one owner; a rebuild equals it', async () => {
    const { config, clock, api, u, a } = await handingDown('reused');
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const first = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => first.close());
    await api.ingest([
      { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, timestamp: at() },
      { type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima' }, timestamp: at() },
    ]);
    await api.drain();
    await first.close();
    // No worker runs: the retention erasure goes to partition 0 (the owner), the event to 1 (the user id's home),
    // which forwards it to 0 before it meets the erasure's `forget`.
    const retention = await api.privacy.erase('user_id', u, { suppress: false });
    assert.equal((await api.ingest([{ type: 'track', userId: u, event: 'Order Completed', properties: { price: 1 }, timestamp: at() }])).accepted, 1);
    const next = await resumeWorkers(api, config, clock, [retention.id]);
    await api.ingest([{ type: 'track', userId: u, event: 'Order Completed', properties: { price: 2 }, timestamp: at() }]);
    await api.drain();

    const back = await api.profile('user_id', u, { now: T0 });
    assert.equal(back?.eventCount, 2, 'both events after the erasure count, in one new profile');
    assert.equal(back?.traits.revenue, 3, 'and its traits');
    assert.equal(await api.profile('anonymous_id', a), undefined, 'the anonymous id stays erased');
    const state = await api.stateDump();
    assert.equal(profilesOf(state).filter((d) => d.identifiers.includes(`user:${u}`)).length, 1, 'one profile holds the user id');
    assertOneOwner(state);
    await next.close();
    await assertRebuilds(config, clock, state);
  });

  it('an event appended before an erasure and forwarded to the erased profile\'s owner after it is dropped there; an identifier used again after an erasure that did not suppress it makes a new profile; a rebuild equals it', async () => {
    const config = await clusterDeployment(4, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    // People whose anonymous id is homed in a lower partition than their user id: the identify hands
    // the profile down to the anonymous id's partition, and the user id's home keeps a route to it.
    const pairs: Array<{ u: string; a: string; owner: number; home: number }> = [];
    // (A '.' in the ids: no generated id or hash in the state has one, so the search for them below cannot match by chance.)
    for (let i = 0; pairs.length < 2; i++) {
      const home = partitionOf('default', `erased.user.${i}.`, 4);
      const owner = partitionOf('default', `erased.anon.${i}.`, 4);
      if (owner < home) pairs.push({ u: `erased.user.${i}.`, a: `erased.anon.${i}.`, owner, home });
    }
    let t = T0 - 86_400_000;
    const at = () => new Date((t += 1000)).toISOString();
    const first = await Portrait.open(config({ role: 'worker', workerId: 'first' }), { clock });
    cleanups.push(() => first.close());
    for (const { u, a } of pairs)
      await api.ingest([
        { type: 'track', anonymousId: a, event: 'Product Viewed', properties: { category: 'books' }, timestamp: at() },
        { type: 'identify', userId: u, anonymousId: a, traits: { city: 'Lima' }, timestamp: at() },
        { type: 'track', userId: u, event: 'Order Completed', properties: { price: 10 }, timestamp: at() },
      ]);
    await api.drain();
    const routes = (await api.stateDump()).filter((l) => l.startsWith('identity_routes ')).map((l) => JSON.parse(l.slice('identity_routes '.length)) as { partition: number; ident: string; owner: number });
    for (const { u, owner, home } of pairs) assert.ok(routes.some((r) => r.partition === home && r.ident === `user:${u}` && r.owner === owner), `${u}'s home routes it to the partition owning the profile`);
    await first.close();

    // No worker runs: the event lands in the user id's home before the erase record lands in the owner's,
    // so the owner meets the erasure before the forward its home sends once it runs again.
    const [gone, back] = pairs as [(typeof pairs)[number], (typeof pairs)[number]];
    await api.ingest([
      { type: 'track', userId: gone.u, event: 'Order Completed', properties: { price: 99 }, timestamp: at() },
      { type: 'track', userId: back.u, event: 'Order Completed', properties: { price: 98 }, timestamp: at() },
    ]);
    const erasure = await api.privacy.erase('user_id', gone.u);
    // A retention erasure does not suppress the identifiers: the person may come back with a new event.
    const retention = await api.privacy.erase('user_id', back.u, { suppress: false });
    const returning = await api.ingest([{ type: 'track', userId: back.u, event: 'Product Viewed', properties: { category: 'games' }, timestamp: at() }]);
    assert.equal(returning.accepted, 1, 'an identifier not suppressed is accepted again');
    const next = await resumeWorkers(api, config, clock, [erasure.id, retention.id]);

    assert.equal(await api.profile('user_id', gone.u), undefined, 'the erased person is not recreated by the forwarded event');
    assert.equal(await api.profile('anonymous_id', gone.a), undefined, 'nor by anonymous id');
    const state = await api.stateDump();
    assert.deepEqual(state.filter((l) => l.includes(gone.u) || l.includes(gone.a)), [], 'no state line names the erased person');
    const again = await api.profile('user_id', back.u);
    assert.equal(again?.eventCount, 1, 'the event after the erasure makes a new profile, and the one from before it is dropped');
    assert.equal(await api.profile('anonymous_id', back.a), undefined, 'the anonymous id stays erased');
    const erased = state.filter((l) => l.startsWith('erased_identifiers ')).map((l) => JSON.parse(l.slice('erased_identifiers '.length)) as { partition: number; hash: string; dropped: number });
    assert.ok(erased.length > 0 && erased.every((r) => /^[0-9a-f]{64}$/.test(r.hash)), 'erased identifiers are kept as keyed hashes');
    assert.equal(erased.reduce((n, r) => n + r.dropped, 0), 2, 'the two forwarded events from before the erasures are counted as dropped');
    assertOneOwner(state);

    await next.close();
    await assertRebuilds(config, clock, state);
  });
});
