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
