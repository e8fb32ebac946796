import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ProfileDoc } from '../../core/profile.ts';
import { changeset, profile } from '../contract.ts';
import { SqliteStore } from './sqlite-store.ts';

async function withThreadedStore(body: (s: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portrait-commit-thread-'));
  const s = new SqliteStore({ file: join(dir, 'state.db'), commitThread: true });
  try {
    await body(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SQLite state store with a commit thread', () => {
  it('a commit is readable on the store at once, in parts larger than one message', async () => {
    await withThreadedStore(async (s) => {
      const many = Array.from({ length: 2500 }, (_, i) => profile(`p${i}`, { eventCount: i }));
      const history = many.map((p, i) => ({ workspace: 'w', profileId: p.id, position: i + 1, messageId: `m${i}`, time: i, changes: { 'trait.n': [i, i + 1] as [number, number] } }));
      await s.commit(changeset({ position: 9, profiles: many, history, identities: [{ workspace: 'w', ident: 'user:1', profileId: 'p7' }] }));
      assert.equal(await s.position(0), 9);
      assert.equal(await s.profileCount(), 2500);
      assert.equal((await s.profiles([{ workspace: 'w', id: 'p2499' }])).get('w\u0000p2499')?.eventCount, 2499);
      assert.equal((await s.identities([{ workspace: 'w', ident: 'user:1' }])).get('w\u0000user:1'), 'p7');
      assert.equal((await s.history('w', 'p1234')).length, 1);
    });
  });

  it('a commit that fails part-way writes nothing, reports the error, and the next commit goes through', async () => {
    await withThreadedStore(async (s) => {
      await s.commit(changeset({ position: 1, profiles: [profile('a')] }));
      // A profile without a workspace breaks a NOT NULL constraint after other rows of the commit were written.
      const broken = { ...profile('z'), workspace: null } as unknown as ProfileDoc;
      const parts = Array.from({ length: 1500 }, (_, i) => profile(`b${i}`));
      await assert.rejects(s.commit(changeset({ position: 2, profiles: [...parts, broken], identities: [{ workspace: 'w', ident: 'user:9', profileId: 'b1' }] })), (e: { code?: string; message?: string }) => e.code === 'PORTRAIT_STORAGE_FAILED' && /NOT NULL/.test(e.message ?? ''));
      assert.equal(await s.position(0), 1, 'the position did not move');
      assert.equal(await s.profileCount(), 1, 'none of its profiles was kept');
      assert.equal((await s.identities([{ workspace: 'w', ident: 'user:9' }])).size, 0, 'nor its identities');
      await s.commit(changeset({ position: 3, profiles: [profile('c')] }));
      assert.equal(await s.position(0), 3);
      assert.equal(await s.profileCount(), 2);
    });
  });

  it('commitDetached has read the changeset when it returns: changing its documents afterwards changes nothing stored, on a commit thread or not', async () => {
    const check = async (s: SqliteStore) => {
      const doc = profile('d', { eventCount: 1 });
      const history = [{ workspace: 'w', profileId: 'd', position: 1, messageId: 'm1', time: 1, changes: { 'trait.n': [0, 1] as [number, number] } }];
      const c = changeset({ position: 1, profiles: [doc], history });
      const { landed } = s.commitDetached(c);
      // What the next events would do to the cached document while this commit is written.
      doc.eventCount = 2;
      history[0]!.changes['trait.n'] = [1, 2];
      c.position = 2;
      await landed;
      assert.equal(await s.position(0), 1);
      assert.equal((await s.profiles([{ workspace: 'w', id: 'd' }])).get('w\u0000d')?.eventCount, 1);
      assert.deepEqual((await s.history('w', 'd'))[0]?.changes, { 'trait.n': [0, 1] });
    };
    await withThreadedStore(check);
    const memory = new SqliteStore({ file: ':memory:' });
    await check(memory);
    await memory.close();
  });

  it('a closed store refuses commits with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-commit-thread-'));
    const s = new SqliteStore({ file: join(dir, 'state.db'), commitThread: true });
    await s.close();
    await assert.rejects(s.commit(changeset({ position: 1 })), (e: { code?: string }) => e.code === 'PORTRAIT_CLOSED');
    rmSync(dir, { recursive: true, force: true });
  });
});
