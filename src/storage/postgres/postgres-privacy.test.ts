/**
 * An erasure on partitioned workers commits with the partition position in
 * its own transaction: fenced like every other commit of the engine, so a
 * worker that lost the partition meanwhile writes nothing (its rows of the
 * erased identifiers would overwrite those the partition's new holder wrote).
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { isPortraitError } from '../../core/errors.ts';
import { emptyProfile } from '../../core/profile.ts';
import { serviceSkip, tempDatabase } from '../../../test/support/services.ts';
import { changeset } from '../contract.ts';
import type { ErasurePlan } from '../store.ts';
import { PostgresStore } from './postgres-store.ts';

const skip = await serviceSkip('PostgreSQL');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const plan = (over: Partial<ErasurePlan>): ErasurePlan => ({
  workspace: 'w',
  erasureId: 'er_1',
  profileId: 'p1',
  identKeys: ['user:u1'],
  events: 0,
  eventsRedacted: 0,
  groups: [],
  quarantineMatches: () => false,
  partition: 2,
  position: 40,
  completedAt: 1,
  sizesAt: 1,
  erased: [{ workspace: 'w', hash: 'h1', position: 40, dropped: 0 }],
  ...over,
});

describe('erasure on PostgreSQL, partitioned workers', { skip }, () => {
  it('an erasure expecting another position than the stored one fails as a stale writer and writes nothing; expecting the stored one, it commits', async () => {
    const db = await tempDatabase();
    const store = await PostgresStore.open({ url: db.url, poolSize: 2 });
    cleanups.push(async () => {
      await store.close();
      await db.drop();
    });
    const privacy = store.privacy!;
    await privacy.requestErasure({ id: 'er_1', workspace: 'w', status: 'pending', requestedAt: 1, completedAt: null, keyId: null, counts: {} }, []);
    const doc = emptyProfile('p1', 'w', 'user', 10);
    doc.identifiers.push('user:u1');
    // The partition's new holder has gone past the erase record (position 40) and counted a record it dropped.
    await store.commit(changeset({ partition: 2, position: 50, profiles: [doc], identities: [{ workspace: 'w', ident: 'user:u1', profileId: 'p1', position: 10 }], erased: [{ workspace: 'w', hash: 'h1', position: 40, dropped: 1 }] }));

    await assert.rejects(privacy.erase(plan({ expectPosition: 30 })), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER', 'the stale worker, still at 30, fails');
    assert.equal(await store.position(2), 50, 'the position stays the new holder\'s');
    assert.deepEqual(await store.erasedIdentifiers(2), [{ workspace: 'w', hash: 'h1', position: 40, dropped: 1 }], 'the dropped count stays');
    assert.ok((await store.profiles([{ workspace: 'w', id: 'p1' }])).size === 1, 'the profile stays');
    assert.equal((await privacy.erasure('w', 'er_1'))?.status, 'pending', 'the ledger entry stays pending');

    await privacy.erase(plan({ position: 60, expectPosition: 50 }));
    assert.equal(await store.position(2), 60, 'the holder of the partition commits it');
    assert.equal((await store.profiles([{ workspace: 'w', id: 'p1' }])).size, 0, 'the profile is gone');
    assert.equal((await privacy.erasure('w', 'er_1'))?.status, 'completed', 'the ledger entry is completed');
  });
});
