import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { PostgresStore } from '../storage/index.ts';
import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { homeOf } from './home.ts';
import { LeaseStore } from './lease-store.ts';
import { partitionOf } from '../log/partition.ts';

const skip = await serviceSkip('PostgreSQL');

describe('partition leases in PostgreSQL', { skip }, () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let store: PostgresStore;
  before(async () => {
    db = await tempDatabase();
    store = await PostgresStore.open({ url: db.url });
  });
  after(async () => {
    await store?.close();
    await db?.drop();
  });

  it('gives a free partition to exactly one of two workers racing for it, and renews only for its owner and token', async () => {
    const leases = new LeaseStore(store.pool, 60_000);
    const [a, b] = await Promise.all([leases.acquire(0, 'a'), leases.acquire(0, 'b')]);
    assert.equal([a, b].filter((t) => t !== undefined).length, 1, 'one worker wins partition 0');
    const [winner, token] = a !== undefined ? ['a', a] : ['b', b!];
    const loser = winner === 'a' ? 'b' : 'a';
    assert.deepEqual([...(await leases.renew(winner, new Map([[0, token]])))], [0], 'the owner renews');
    assert.equal((await leases.renew(loser, new Map([[0, token]]))).size, 0, 'another worker cannot renew it');
    assert.equal((await leases.renew(winner, new Map([[0, token + 1]]))).size, 0, 'nor can the owner with another token');
    assert.deepEqual(await leases.free(3), [1, 2], 'partitions 1 and 2 are still free');
  });

  it('lets another worker take a partition once its lease expired or was released, with a higher fencing token', async () => {
    const short = new LeaseStore(store.pool, 150);
    const first = await short.acquire(5, 'dead');
    assert.ok(first !== undefined, 'the first worker takes partition 5');
    assert.equal(await short.acquire(5, 'other'), undefined, 'it is not free while the lease runs');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await short.renew('dead', new Map([[5, first]]))).size, 0, 'an expired lease cannot be renewed');
    const second = await short.acquire(5, 'other');
    assert.ok(second !== undefined && second > first, `the other worker takes it over with a higher token (${first} → ${second})`);
    await short.release(5, 'dead', first);
    assert.equal((await short.list()).find((l) => l.partition === 5)?.owner, 'other', 'a stale release changes nothing');
    await short.release(5, 'other', second);
    assert.ok((await short.free(6)).includes(5), 'a released partition is free at once');
  });

  it('a rebuild fence keeps every other worker from taking a partition until it is lowered or expires, and one rebuild holds it at a time', async () => {
    const short = new LeaseStore(store.pool, 200);
    const epoch = await short.raiseFence('rebuilder');
    assert.ok(epoch !== undefined, 'the fence is raised');
    assert.deepEqual(await short.fence(), { owner: 'rebuilder', epoch }, 'every worker can read who holds it');
    assert.equal(await short.raiseFence('second'), undefined, 'a second rebuild cannot raise it while it is live');
    assert.equal(await short.acquire(10, 'worker'), undefined, 'another worker takes no partition, not even one never leased');
    const token = await short.acquire(10, 'rebuilder');
    assert.ok(token !== undefined, 'the rebuilder takes it');
    // (The first test's winner still holds partition 0 in this database.)
    assert.ok((await short.holders('worker')).includes('rebuilder'), 'the rebuilder is named among the holders of live leases');
    assert.ok(!(await short.holders('rebuilder')).includes('rebuilder'), 'except when it asks itself');
    assert.equal(await short.renewFence('rebuilder', epoch), true, 'the rebuilder renews its fence');
    assert.equal(await short.renewFence('rebuilder', epoch + 1), false, 'only with its epoch');
    await short.release(10, 'rebuilder', token);
    await short.lowerFence('rebuilder', epoch);
    assert.equal(await short.fence(), undefined, 'a lowered fence is gone');
    assert.ok((await short.acquire(10, 'worker')) !== undefined, 'and workers take partitions again');

    const dead = await short.raiseFence('dies');
    assert.ok(dead !== undefined && dead > epoch, `a later rebuild raises it with a higher epoch (${epoch} → ${dead})`);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await short.fence(), undefined, 'a fence nobody renews expires like a lease');
    assert.equal(await short.renewFence('dies', dead), false, 'its rebuilder cannot renew it any more');
    assert.ok((await short.acquire(11, 'worker')) !== undefined, 'workers take partitions again');
    const next = await short.raiseFence('next');
    assert.ok(next !== undefined && next > dead, 'the next rebuild raises it');
    await short.lowerFence('dies', dead);
    assert.deepEqual(await short.fence(), { owner: 'next', epoch: next }, "the dead rebuilder's late lowering leaves the next one's fence alone");
    await short.lowerFence('next', next);
  });

  it('counts live workers for the fair share, and forgets one that left', async () => {
    const leases = new LeaseStore(store.pool, 60_000);
    await leases.heartbeat('w1');
    assert.equal(await leases.heartbeat('w2'), 2, 'two workers are alive');
    await leases.leave('w1');
    assert.equal(await leases.heartbeat('w2'), 1, 'one left');
  });
});

describe('identifier homes', () => {
  it('homes an identifier key in the partition its value hashes to, as events are placed', () => {
    const home = homeOf(8);
    assert.equal(home('w', 'user:u42'), partitionOf('w', 'u42', 8), 'user:u42 lives where events of userId u42 go');
    assert.equal(home('w', 'anon:u42'), home('w', 'user:u42'), 'a value has one home whatever its kind');
    assert.equal(homeOf(1)('w', 'anon:anything'), 0, 'with one partition every identifier is home');
  });
});
