import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/support/open.ts';
import { isPortraitError } from '../../core/errors.ts';
import { changeset, profile } from '../contract.ts';
import { SqliteStore } from './sqlite-store.ts';

describe('SqliteStore: stale writer across connections', () => {
  it('two processes on one file (two connections) cannot both advance a partition', async () => {
    const { dir, cleanup } = tempDir();
    const a = new SqliteStore({ file: join(dir, 'state.db') });
    const b = new SqliteStore({ file: join(dir, 'state.db') });
    try {
      await a.commit(changeset({ position: 3 }));
      const seenByA = await a.position(0);
      const seenByB = await b.position(0);
      assert.deepEqual([seenByA, seenByB], [3, 3], 'both see position 3');
      await a.commit(changeset({ position: 5, expectPosition: seenByA, profiles: [profile('from-a')] }));
      await assert.rejects(
        b.commit(changeset({ position: 6, expectPosition: seenByB, profiles: [profile('from-b')] })),
        (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STALE_WRITER' && e.message.includes('at position 5, not 3'),
        'the second writer fails, told where the partition is',
      );
      assert.equal(await b.position(0), 5, "b now reads a's position");
      assert.equal((await b.profiles([{ workspace: 'w', id: 'from-b' }])).size, 0, "b's stale commit wrote nothing");
    } finally {
      await a.close();
      await b.close();
      cleanup();
    }
  });
});
