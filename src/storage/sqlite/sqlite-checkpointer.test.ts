import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../../../test/support/open.ts';
import { isPortraitError } from '../../core/errors.ts';
import { changeset, profile } from '../contract.ts';
import { BACKSTOP_CHECKPOINT_PAGES, Checkpointer } from './sqlite-checkpointer.ts';
import { SqliteStore } from './sqlite-store.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Profiles in the database file itself, leaving out what is still only in its WAL (read from a copy of the file alone). */
function profilesInFile(file: string, dir: string): number {
  const copy = join(dir, `copy-${Math.random().toString(36).slice(2)}.db`);
  copyFileSync(file, copy);
  const db = new Database(copy, { readonly: true });
  try {
    // Before any checkpoint even the tables exist only in the WAL.
    if (db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'profiles'`).get() === undefined) return 0;
    return (db.prepare('SELECT COUNT(*) AS n FROM profiles').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Waits (at most 10 s) for `ok` to hold. */
async function eventually(ok: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return true;
    await sleep(50);
  }
  return ok();
}

describe('SQLite state store with a checkpoint thread', () => {
  it('commits reach the database file through the checkpoint thread while the committing connection only keeps a backstop', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file, checkpointThread: true });
    try {
      await store.ready();
      assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_CHECKPOINT_PAGES, 'the committing connection checkpoints only as a backstop');
      await store.commit(changeset({ position: 3, profiles: [profile('a'), profile('b'), profile('c')] }));
      assert.ok(await eventually(() => profilesInFile(file, dir) === 3), 'the three profiles are copied into the database file after the commit');
      assert.equal(await store.position(0), 3, 'the commit itself is what the store reads');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('without the thread, a small commit stays in the WAL (SQLite checkpoints only every 10,000 pages there)', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file });
    try {
      await store.commit(changeset({ position: 3, profiles: [profile('a'), profile('b'), profile('c')] }));
      await sleep(300);
      assert.equal(profilesInFile(file, dir), 0, 'nothing copied into the database file yet');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('a checkpoint thread that cannot open its file fails ready() with a storage error, and its failed checkpoint reaches the next caller once', async () => {
    const { dir, cleanup } = tempDir();
    const c = new Checkpointer({ file: join(dir, 'missing', 'state.db') });
    try {
      await assert.rejects(c.ready(), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED' && /checkpointing the state file/.test(e.message));
      c.written();
      const thrown = await eventually(() => {
        try {
          c.check();
          return false;
        } catch (e) {
          return isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED';
        }
      });
      assert.ok(thrown, 'the failure of the checkpoint after a commit is reported');
      assert.doesNotThrow(() => c.check(), 'and reported once');
    } finally {
      await c.close();
      cleanup();
    }
  });
});
