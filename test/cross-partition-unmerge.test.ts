/**
 * Unmerges and erasures across partitions on PostgreSQL + NATS, compared
 * with the embedded mode for the same operations and against a rebuild: the
 * link an unmerge removed stays removed wherever the profile moves.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { emailHasher } from '../src/ingest/email.ts';
import { partitionOf } from '../src/log/index.ts';
import { assertOneOwner, clusterDeployment } from './support/cluster.ts';
import { assertSamePersons, BASE, conflicts, partitionedDeployments, persons, sendPhases } from './support/cross-partition.ts';
import { openMemory, T0 } from './support/open.ts';
import { serviceSkip } from './support/services.ts';

const skip = (await serviceSkip('PostgreSQL')) || (await serviceSkip('NATS'));

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const { assertRebuilds } = partitionedDeployments(cleanups);

const hash = emailHasher(Buffer.from('ab'.repeat(32), 'hex'));

/** The first `prefix<i>suffix` for which `ok` holds (ids hold a '.': no generated id or hash in the state has one). */
function first(prefix: string, suffix: string, ok: (id: string) => boolean): string {
  for (let i = 0; ; i++) if (ok(`${prefix}${i}${suffix}`)) return `${prefix}${i}${suffix}`;
}

describe('unmerges across partitions (PostgreSQL + NATS)', { skip }, () => {
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
});
