/**
 * Identity conflicts on a shared PostgreSQL database: partitions may each
 * record the same conflict (pair and reason) and commit in any order; the
 * row from the lowest log position is the one kept, so a rebuild, whose
 * partitions commit in another order, keeps the same row.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import type { IdentityConflict } from '../../core/identity.ts';
import { serviceSkip, tempDatabase } from '../../../test/support/services.ts';
import { changeset } from '../contract.ts';
import { PostgresStore } from './postgres-store.ts';

const skip = await serviceSkip('PostgreSQL');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const conflict = (position: number, messageId: string, over: Partial<IdentityConflict> = {}): IdentityConflict => ({
  workspace: 'w', reason: 'different_user_ids', a: 'user:u1', b: 'anon:a1', profileA: '', profileB: `p${position}`, position, messageId, time: position * 1000, ...over,
});

describe('identity conflicts on PostgreSQL', { skip }, () => {
  it('keeps the conflict from the lowest position, whatever the order partitions commit in', async () => {
    const db = await tempDatabase();
    const store = await PostgresStore.open({ url: db.url, poolSize: 2 });
    cleanups.push(async () => {
      await store.close();
      await db.drop();
    });
    // Partition 1 commits first a conflict found at position 50, then partition 0 the same one found at 20.
    await store.commit(changeset({ partition: 1, position: 60, identityConflicts: [conflict(50, 'm50')] }));
    await store.commit(changeset({ partition: 0, position: 30, identityConflicts: [conflict(20, 'm20'), conflict(25, 'm25'), conflict(22, 'x', { reason: 'anonymous_cap' })] }));
    // A later find of it changes nothing.
    await store.commit(changeset({ partition: 1, position: 90, identityConflicts: [conflict(80, 'm80')] }));
    const rows = (await store.identityConflicts('w')).map((r) => [r.reason, r.position, r.messageId, r.profileB]).sort();
    assert.deepEqual(rows, [
      ['anonymous_cap', 22, 'x', 'p22'],
      ['different_user_ids', 20, 'm20', 'p20'],
    ]);
  });
});
