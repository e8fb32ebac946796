import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { resolveConfig } from '../src/config/index.ts';
import { Portrait } from '../src/index.ts';
import { keyUsage, reseal, retireKey, rotateKey } from '../src/privacy/index.ts';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

function tokenKeys(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const text = JSON.stringify(['profiles', 'trait_history', 'attribute_conflicts'].map((t) => db.prepare(`SELECT * FROM ${t}`).all()));
    return [...new Set([...text.matchAll(/pe1\.([A-Za-z0-9_-]+)\./g)].map((m) => m[1]!))].sort();
  } finally {
    db.close();
  }
}

describe('master key rotation', () => {
  it('rotate, reseal while the instance runs, retire: plaintext never changes and the old key is refused while used', async () => {
    const { dir, cleanup } = tempDir();
    const config = resolveConfig({ dataDir: dir });
    const p = await Portrait.open({ dataDir: dir });
    try {
      await p.ingest([{ type: 'identify', userId: 'u1', traits: { email: 'ann@example.com', phone: '555-0101' } }]);
      await p.drain();
      assert.deepEqual(tokenKeys(join(dir, 'state.db')), ['k1'], 'values are sealed with k1');

      const r = await rotateKey(config);
      assert.equal(r.id, 'k2', 'the next key id');
      assert.equal((JSON.parse(readFileSync(join(dir, 'master.keys'), 'utf8')) as { active: string }).active, 'k2', 'the key file names k2 active');
      await assert.rejects(rotateKey(config, 'k2'), /already in the ring/, 'a duplicate id is refused');

      // The running instance still seals with k1; reseal moves what is stored to k2.
      const report = await reseal(config, 1);
      assert.ok(report.rewritten >= 2, `rows re-sealed in batches of one: ${JSON.stringify(report)}`);
      assert.ok(report.dataKeys.rewritten >= 1, `the person's data key is re-sealed too: ${JSON.stringify(report.dataKeys)}`);
      assert.deepEqual(tokenKeys(join(dir, 'state.db')), ['k2'], 'everything stored is under k2');
      // The running instance meets k2 tokens it did not know at start: it reloads the key file.
      const view = await p.profile('user_id', 'u1');
      assert.deepEqual([view?.attributes.email, view?.attributes.phone], ['ann@example.com', '555-0101'], 'plaintext unchanged, read by the running instance');

      await p.ingest([{ type: 'identify', userId: 'u1', traits: { name: 'Ann' } }]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))?.attributes.name, 'Ann', 'the running instance keeps working after the rotation');
    } finally {
      await p.close();
    }
    try {
      const usage = await keyUsage(config);
      if ((usage.get('k1') ?? 0) > 0) {
        await assert.rejects(retireKey(config, 'k1'), /PORTRAIT_PRIVACY_KEY_IN_USE|still seals/, 'k1 is refused while values use it');
        await reseal(config);
      }
      assert.equal((await keyUsage(config)).get('k1') ?? 0, 0, 'no value uses k1 after a reseal');
      const retired = await retireKey(config, 'k1');
      assert.deepEqual(retired.keys, ['k2'], 'only k2 is left');
      const again = await Portrait.open({ dataDir: dir });
      try {
        assert.equal((await again.profile('user_id', 'u1'))?.attributes.email, 'ann@example.com', 'a new process reads everything with k2 alone');
        const identify = (await again.events('user_id', 'u1')).events.map((e) => e.record).find((e) => e.type === 'identify' && e.traits?.email !== undefined);
        assert.equal(identify?.traits?.email, 'ann@example.com', "and the log's personal fields, through the person's data key re-sealed under k2");
        const trail = (await again.audit.list({ workspace: 'default', limit: 100 })).items.map((i) => `${i.method} ${i.route} ${i.status} ${i.workspace}`);
        for (const line of ['CLI portrait privacy rotate-key 200 *', 'CLI portrait privacy rotate-key 500 *', 'CLI portrait privacy reseal 200 *', 'CLI portrait privacy retire-key 200 *']) {
          assert.ok(trail.includes(line), `the audit log records "${line}" for every workspace's admins: ${trail.join('; ')}`);
        }
      } finally {
        await again.close();
      }
    } finally {
      cleanup();
    }
  });

  it('retire-key refuses a key that still seals values; rotating keys from the environment is refused', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([{ type: 'identify', userId: 'u1', traits: { email: 'bo@example.com' } }]);
      await p.drain();
      await p.close();
      const config = resolveConfig({ dataDir: dir });
      await rotateKey(config, 'k9');
      await assert.rejects(retireKey(config, 'k1'), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_KEY_IN_USE', 'k1 still seals the email');
      await assert.rejects(retireKey(config, 'k9'), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_KEYRING_INVALID', 'the active key cannot be retired');
      const env = resolveConfig({ dataDir: dir, privacy: { masterKeys: `k1:${'ab'.repeat(32)}` } });
      await assert.rejects(rotateKey(env), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_KEYS_FROM_ENV', 'keys from the environment are changed there');
    } finally {
      cleanup();
    }
  });

  it('the CLI rotates, reports key usage, reseals and retires', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([{ type: 'identify', userId: 'u1', traits: { email: 'cy@example.com' } }]);
      await p.drain();
      await p.close();
      const cli = (...args: string[]) => run(process.execPath, [BIN, '--data-dir', dir, 'privacy', ...args], { cwd: dir });
      assert.match((await cli('rotate-key', '--id', 'next')).stdout, /active key next/, 'rotate-key names the new key');
      assert.match((await cli('key-usage')).stdout, /^k1\t3$/m, "key-usage counts the k1 values (profile, history and the person's data key)");
      const refused = await cli('retire-key', 'k1').then(
        () => assert.fail('retiring a used key must fail'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(refused.code, 1, 'exit code 1');
      assert.match(refused.stderr, /PORTRAIT_PRIVACY_KEY_IN_USE/, 'the error code is printed');
      assert.match((await cli('reseal', '--batch', '10')).stdout, /re-sealed 2 row\(s\) of \d+ and 1 data key\(s\) of 1/, 'reseal reports what it did');
      assert.match((await cli('retire-key', 'k1')).stdout, /retired k1; keys left: next/, 'retire-key succeeds once unused');
    } finally {
      cleanup();
    }
  });
});
