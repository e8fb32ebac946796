import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { tempDir } from '../../../test/support/open.ts';
import { isPortraitError } from '../../core/errors.ts';
import { migrateSqlite } from './sqlite-migrate.ts';
import { SQLITE_MIGRATIONS } from './sqlite-schema.ts';
import { dataKeyFileOf } from './sqlite-data-keys.ts';
import { SqliteStateWriter } from './sqlite-state-writer.ts';
import { SqliteStore } from './sqlite-store.ts';

const AUDIT = { at: 1, workspace: 'w', keyId: 'k', scope: 'read', method: 'GET', route: '/v1/profiles/:idType/:id', status: 200, requestId: 'r1' };

/** Holds the state file's write lock from another connection, as the engine does during a commit. */
function holdStateLock(file: string): () => void {
  const other = new Database(file, { timeout: 0 });
  other.exec('BEGIN IMMEDIATE');
  other.prepare('UPDATE engine_position SET position = position WHERE partition = 0').run();
  return () => {
    other.exec('COMMIT');
    other.close();
  };
}

describe('data keys in their own file', () => {
  it('keeps data keys beside the state file and stores new ones while another connection holds the state lock', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file });
    store.db.pragma('busy_timeout = 0');
    try {
      assert.equal(dataKeyFileOf(file), join(dir, 'state.keys.db'));
      assert.ok(existsSync(join(dir, 'state.keys.db')), 'the key file is created with the store');
      const release = holdStateLock(file);
      try {
        // Without a file of their own, this insert would need the state file's lock: SQLITE_BUSY at once.
        const keys = await store.dataKeys.insertMissing('w', [{ subject: 's1', sealed: 'sealed-1' }], 5);
        assert.deepEqual([...keys], [['s1', 'sealed-1']]);
      } finally {
        release();
      }
      assert.deepEqual([...(await store.dataKeys.get('w', ['s1', 's2']))], [['s1', 'sealed-1']], 'read back; an unknown subject is absent');
      assert.equal(await store.dataKeys.delete('w', ['s1']), 1);
      assert.equal(store.db.pragma('main.secure_delete', { simple: true }), 1, 'deleting a key leaves the state file zeroing what it deletes');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('moves the keys of a state file from before (kept in the state file) into the key file, losing none', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 20 }), async (subjects) => {
        const { dir, cleanup } = tempDir();
        const file = join(dir, 'state.db');
        try {
          const old = new Database(file);
          migrateSqlite(old, SQLITE_MIGRATIONS);
          const ins = old.prepare('INSERT INTO data_keys (workspace, subject, sealed_key, created_at) VALUES (?, ?, ?, ?)');
          for (const s of subjects) ins.run('w', s, `sealed:${s}`, 1);
          old.close();
          for (let open = 0; open < 2; open++) {
            const store = new SqliteStore({ file });
            try {
              const got = await store.dataKeys.get('w', subjects);
              assert.deepEqual(subjects.map((s) => got.get(s)), subjects.map((s) => `sealed:${s}`), `every key readable after open ${open + 1}`);
              assert.equal(store.db.prepare(`SELECT 1 FROM main.sqlite_master WHERE name = 'data_keys'`).get(), undefined, 'none left in the state file');
            } finally {
              await store.close();
            }
          }
        } finally {
          cleanup();
        }
      }),
      { numRuns: 10 },
    );
  });
});

describe('SqliteStateWriter (the state writer thread)', () => {
  it('writes data keys and audit records in its thread while the state lock is held elsewhere, and the store reads them', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file, writerThread: true });
    try {
      const release = holdStateLock(file);
      const audit = store.appendAudit([AUDIT]);
      const keys = await store.dataKeys.insertMissing('w', [{ subject: 's1', sealed: 'first' }], 5);
      assert.deepEqual([...keys], [['s1', 'first']], 'the key is stored at once: its file is not the locked one');
      release();
      await audit;
      assert.deepEqual(
        (await store.auditRecords({ workspace: 'w', limit: 10 })).map((r) => r.requestId),
        ['r1'],
        'the audit record waited for the lock in the thread, then landed',
      );
      const again = await store.dataKeys.insertMissing('w', [{ subject: 's1', sealed: 'second' }, { subject: 's2', sealed: 'other' }], 6);
      assert.deepEqual(Object.fromEntries(again), { s1: 'first', s2: 'other' }, 'an existing key wins; a new one is stored');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('quarantines a message in its thread while the state lock is held elsewhere; the id reads back', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file, writerThread: true });
    store.db.pragma('busy_timeout = 0');
    try {
      const release = holdStateLock(file);
      // On the store's own connection (no wait allowed) this would fail with SQLITE_BUSY.
      const id = store.quarantine({ workspace: 'w', receivedAt: 7, raw: '{"bad":true}', reason: [{ path: '/type', message: 'is required' }] });
      release();
      const row = await store.quarantinedById('w', await id);
      assert.deepEqual([row?.raw, row?.status], ['{"bad":true}', 'open']);
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('data-key calls sent together are all stored, the first key of a subject winning for every caller, even when close follows at once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 30 }), async (calls) => {
        const { dir, cleanup } = tempDir();
        const file = join(dir, 'state.db');
        const store = new SqliteStore({ file });
        const writer = new SqliteStateWriter({ file, durability: 'full' });
        try {
          const answers = calls.map((subjects, i) => writer.insertDataKeys('w', [...new Set(subjects)].map((s) => ({ subject: `s${s}`, sealed: `call${i}` })), i));
          await writer.close();
          const got = await Promise.all(answers);
          const first = new Map<string, string>();
          calls.forEach((subjects, i) => subjects.forEach((s) => first.has(`s${s}`) || first.set(`s${s}`, `call${i}`)));
          got.forEach((keys, i) => {
            for (const s of new Set(calls[i])) assert.equal(keys.get(`s${s}`), first.get(`s${s}`), `call ${i} gets the key stored first for s${s}`);
          });
          assert.deepEqual(Object.fromEntries(await store.dataKeys.get('w', [...first.keys()])), Object.fromEntries(first), 'what is stored');
        } finally {
          await writer.close();
          await store.close();
          cleanup();
        }
      }),
      { numRuns: 15 },
    );
  });

  it('a failed write reaches its caller with the reason, and later writes still work', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file, writerThread: true });
    try {
      const bad = { ...AUDIT, route: null as unknown as string };
      await assert.rejects(store.appendAudit([AUDIT, bad]), (e: unknown) => isPortraitError(e) && /NOT NULL/.test(e.message), 'the constraint failure is reported');
      assert.equal((await store.auditRecords({ workspace: 'w', limit: 10 })).length, 0, 'the failed batch wrote nothing (one transaction)');
      await store.appendAudit([AUDIT]);
      assert.equal((await store.auditRecords({ workspace: 'w', limit: 10 })).length, 1, 'the next batch is written');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('a store with writer threads is ready once its data-key writer answers, before any key is written', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const store = new SqliteStore({ file, writerThread: true });
    try {
      await store.ready();
      const keys = await store.dataKeys.insertMissing('w', [{ subject: 's1', sealed: 'sealed-1' }], 5);
      assert.equal(keys.get('s1'), 'sealed-1', 'the first key goes through the thread that is already up');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('close finishes the writes already sent; writing after close is refused', async () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'state.db');
    const writer = new SqliteStateWriter({ file, durability: 'normal' });
    const store = new SqliteStore({ file });
    try {
      const sent = writer.appendAudit([AUDIT, { ...AUDIT, requestId: 'r2' }]);
      await writer.close();
      await sent;
      assert.equal((await store.auditRecords({ workspace: 'w', limit: 10 })).length, 2);
      await assert.rejects(writer.appendAudit([AUDIT]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CLOSED');
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('calls fail with a storage error when the thread cannot open the file', async () => {
    const { dir, cleanup } = tempDir();
    const writer = new SqliteStateWriter({ file: join(dir, 'missing', 'state.db'), durability: 'normal' });
    try {
      await assert.rejects(writer.ready(), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED' && /thread/.test(e.message), 'ready() reports it');
      await assert.rejects(writer.appendAudit([AUDIT]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED' && /thread/.test(e.message));
    } finally {
      await writer.close();
      cleanup();
    }
  });
});
