import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { isPortraitError } from '../../core/errors.ts';
import type { Json } from '../../core/event.ts';
import { emptyProfile } from '../../core/profile.ts';
import { serviceSkip, tempDatabase } from '../../../test/support/services.ts';
import { emptyChangeset, type Changeset, type SegmentDefinitionRow } from '../store.ts';
import { PartitionSegmentStore } from './postgres-partition-segments.ts';
import { PostgresStore } from './postgres-store.ts';

const skip = await serviceSkip('PostgreSQL');

function definition(name: string, condition: string | null, hash = `h-${name}`): SegmentDefinitionRow {
  return { kind: 'segment', name, definition: { name, condition } as unknown as Json, hash, version: 1, status: condition === null ? 'live' : 'backfilling', cursor: 0, after: 0, updatedAt: 1, source: 'api' };
}

/** A commit of `partition` writing profiles, members (entered), a schedule and sizes. */
function commit(partition: number, position: number, o: { profiles?: string[]; enter?: Array<[string, string]>; due?: Array<[string, number]>; sizes?: Array<[string, number, number]>; evaluated?: SegmentDefinitionRow[] }): Changeset {
  const c = emptyChangeset(partition, position);
  c.profiles = (o.profiles ?? []).map((id) => emptyProfile(id, 'w', 'user', position));
  c.segments = {
    changes: (o.enter ?? []).map(([segment, profileId]) => ({ workspace: 'w', segment, profileId, change: 'entered' as const, time: position, reason: 'event', position })),
    schedule: (o.due ?? []).map(([profileId, dueAt]) => ({ workspace: 'w', profileId, dueAt })),
    sizes: (o.sizes ?? []).map(([segment, at, size]) => ({ workspace: 'w', segment, at, size })),
    ...(o.evaluated !== undefined && { evaluated: o.evaluated.map((r) => ({ kind: r.kind, name: r.name, hash: r.hash })) }),
  };
  return c;
}

describe('segments on partitioned workers: the PostgreSQL partition view', { skip }, () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let store: PostgresStore;
  const view = (partition: number, head = 1_000) => new PartitionSegmentStore({ pool: store.pool, shared: store.segments, partition, partitions: 2, head: () => head });

  before(async () => {
    db = await tempDatabase();
    store = await PostgresStore.open({ url: db.url, poolSize: 4 });
  });
  after(async () => {
    await store?.close();
    await db?.drop();
  });

  it("keeps each partition's schedule, profiles, member counts and orphans apart, keyed by the partition that wrote them", async () => {
    await store.segments.saveDefinitions([definition('s', 'exists attributes.x')]);
    await store.commit(commit(0, 10, { profiles: ['p0a', 'p0b'], enter: [['s', 'p0a'], ['s', 'p0b']], due: [['p0a', 500]] }));
    await store.commit(commit(1, 11, { profiles: ['p1a'], enter: [['s', 'p1a']], due: [['p1a', 400]] }));
    const [p0, p1] = [view(0), view(1)];
    assert.deepEqual(await p0.due(1_000, 10), [{ workspace: 'w', id: 'p0a', dueAt: 500 }], "partition 0 sees its own due profile only");
    assert.equal(await p1.nextDue(), 400);
    assert.deepEqual((await p0.profilesAfter(0, 10)).map((x) => x.doc.id), ['p0a', 'p0b'], 'a backfill page holds the profiles the partition wrote');
    assert.deepEqual((await p1.profilesAfter(0, 10)).map((x) => x.doc.id), ['p1a']);
    assert.deepEqual(await p0.sizes(), [{ workspace: 'w', segment: 's', size: 2 }], 'each partition counts the members it wrote');
    assert.deepEqual(await p1.sizes(), [{ workspace: 'w', segment: 's', size: 1 }]);
    // A profile written later by partition 1 (taken over) moves there with its next commit.
    await store.commit(commit(1, 12, { profiles: ['p0b'], due: [['p0b', 300]] }));
    assert.deepEqual((await p1.profilesAfter(0, 10)).map((x) => x.doc.id).sort(), ['p0b', 'p1a']);
    assert.deepEqual(await p1.due(1_000, 10).then((d) => d.map((x) => x.id)), ['p0b', 'p1a']);
    await store.commit({ ...emptyChangeset(0, 13), deletedProfiles: [{ workspace: 'w', id: 'p0a' }] });
    assert.deepEqual(await p0.orphanMemberships(10), [{ workspace: 'w', id: 'p0a' }], 'a membership whose profile is gone is ended by the partition that wrote it');
    assert.deepEqual(await p1.orphanMemberships(10), []);
  });

  it("sums the partitions' size series: the size at an instant is every partition's last size before it", async () => {
    await store.commit(commit(0, 20, { sizes: [['t', 100, 3], ['t', 300, 5]] }));
    await store.commit(commit(1, 21, { sizes: [['t', 200, 2], ['t', 400, 1]] }));
    assert.deepEqual(await store.segments.sizeHistory('w', 't', { limit: 10 }), [
      { at: 400, size: 6 },
      { at: 300, size: 7 },
      { at: 200, size: 5 },
      { at: 100, size: 3 },
    ]);
    assert.deepEqual(await store.segments.sizeHistory('w', 't', { limit: 2, to: 350 }), [
      { at: 300, size: 7 },
      { at: 200, size: 5 },
    ]);
  });

  it('starts a backfill per partition on first sight of a version; the last partition done sets it live, a partition starting again sets it backfilling', async () => {
    await store.segments.saveDefinitions([definition('b', 'exists attributes.y'), definition('manual', null)]);
    const rows = await view(0, 50).definitions();
    const b = rows.find((r) => r.name === 'b')!;
    assert.deepEqual([b.status, b.cursor, b.after], ['backfilling', 0, 0], 'a new version backfills from the first profile, live evaluation at once');
    assert.equal(rows.find((r) => r.name === 'manual')?.status, 'backfilling', 'a manual tag backfills too: decisions on it may be folded already');
    const progress = (partition: number, done: boolean) => ({ kind: 'segment' as const, name: 'b', hash: 'h-b', partition, cursor: 0, after: 0, done, partitions: 2 });
    const status = async () => (await store.segments.definitions()).find((r) => r.name === 'b')?.status;
    const withBackfill = (partition: number, done: boolean): Changeset => ({ ...emptyChangeset(partition, 30 + partition), segments: { changes: [], schedule: [], sizes: [], backfills: [progress(partition, done)] } });
    await store.commit(withBackfill(0, true));
    assert.equal(await status(), 'backfilling', 'one partition of two is done');
    assert.equal((await view(0).definitions()).find((r) => r.name === 'b')?.status, 'live', 'that partition evaluates it live');
    await store.commit(withBackfill(1, true));
    assert.equal(await status(), 'live', 'the last partition done sets it live');
    await store.commit(withBackfill(1, false));
    assert.equal(await status(), 'backfilling', 'a partition starting again (a trait it reads was recomputed) sets it backfilling');
    assert.equal((await store.segments.backfillProgress(2)).get('segment\u0000b\u0000h-b'), 0.5, 'progress: one partition of two done, the other at its start');
    // A rebuild: re-evaluation waits until the partition replayed up to its head.
    await store.segments.saveDefinitions([{ ...definition('r', 'exists attributes.z'), after: Number.MAX_SAFE_INTEGER }]);
    assert.equal((await view(1, 77).definitions()).find((r) => r.name === 'r')?.after, 77);
  });

  it('a commit naming definitions another node changed since fails with PORTRAIT_STALE_WRITER and writes nothing', async () => {
    const before = await store.segments.definitions();
    await store.commit(commit(0, 40, { profiles: ['q1'], enter: [['s', 'q1']], evaluated: before }));
    assert.equal((await store.segments.memberships([{ workspace: 'w', id: 'q1' }])).get('w\u0000q1')?.has('s'), true, 'the definitions it evaluated are the stored ones');
    await store.segments.deleteDefinition('segment', 's');
    await assert.rejects(
      store.commit(commit(0, 41, { profiles: ['q2'], enter: [['s', 'q2']], evaluated: before })),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER',
    );
    assert.equal((await store.segments.memberships([{ workspace: 'w', id: 'q2' }])).get('w\u0000q2')?.size, 0, 'no membership of the removed segment is written');
    assert.equal(await store.position(0), 40, 'nor the position');
  });

  it('a commit under a lease token another worker replaced fails with PORTRAIT_STALE_WRITER, even one that keeps the position', async () => {
    await store.pool.query(`INSERT INTO partition_leases (partition, owner, token, expires_at) VALUES (5, 'new', 8, 0)`);
    const c = commit(5, 0, { profiles: ['r1'], due: [['r1', 1]] });
    await assert.rejects(store.commit({ ...c, expectLease: 7 }), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER');
    assert.equal((await store.profiles([{ workspace: 'w', id: 'r1' }])).size, 0, 'nothing is written');
    await store.commit({ ...c, expectLease: 8 });
    assert.equal((await store.profiles([{ workspace: 'w', id: 'r1' }])).size, 1, 'the holder of the lease commits');
  });
});
