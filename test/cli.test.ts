import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Portrait } from '../src/index.ts';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

describe('portrait CLI', () => {
  it('rebuild recomputes the profiles and profile prints one as JSON', async () => {
    const { dir, cleanup } = tempDir('portrait-cli-');
    try {
      const p = await Portrait.open({ dataDir: dir, traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
      await p.ingest([
        { type: 'identify', userId: 'ann', traits: { city: 'Lima' }, messageId: 'i1' },
        { type: 'track', userId: 'ann', event: 'Order Completed', messageId: 't1' },
        { type: 'track', userId: 'ann', event: 'Order Completed', messageId: 't2' },
      ]);
      await p.drain();
      await p.close();
      const cwd = dir;
      const cfg = join(dir, 'portrait.config.json');
      await import('node:fs').then((fs) => fs.writeFileSync(cfg, JSON.stringify({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] })));

      const rebuilt = await run(process.execPath, [BIN, '--data-dir', dir, 'rebuild', '--no-progress'], { cwd });
      assert.match(rebuilt.stdout, /rebuilt 3 records into 1 profiles/);

      const shown = await run(process.execPath, [BIN, '--data-dir', dir, 'profile', 'user_id', 'ann'], { cwd });
      const view = JSON.parse(shown.stdout) as { attributes: { city: string }; traits: { orders: number } };
      assert.equal(view.attributes.city, 'Lima');
      assert.equal(view.traits.orders, 2);

      const missing = await run(process.execPath, [BIN, '--data-dir', dir, 'profile', 'user_id', 'nobody'], { cwd }).then(
        () => assert.fail('expected a failure'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /PORTRAIT_PROFILE_NOT_FOUND/);

      const badType = await run(process.execPath, [BIN, '--data-dir', dir, 'profile', 'phone', '1'], { cwd }).then(
        () => assert.fail('expected a failure'),
        (e: { stderr: string }) => e,
      );
      assert.match(badType.stderr, /PORTRAIT_IDENTITY_UNKNOWN_TYPE/);
    } finally {
      cleanup();
    }
  });
});

describe('portrait keys and serve', () => {
  it('keys create prints the key alone; list shows it without the secret; revoke disables it', async () => {
    const { dir, cleanup } = tempDir('portrait-keys-');
    try {
      const created = await run(process.execPath, [BIN, '--data-dir', dir, 'keys', 'create', '--workspace', 'shop', '--scopes', 'write,read'], { cwd: dir });
      const key = created.stdout.trim();
      assert.match(key, /^[0-9a-f]{12}\.[A-Za-z0-9_-]+$/);
      const id = key.split('.')[0]!;
      const listed = await run(process.execPath, [BIN, '--data-dir', dir, 'keys', 'list'], { cwd: dir });
      assert.match(listed.stdout, new RegExp(`^${id}\\tshop\\twrite,read\\tactive`, 'm'));
      assert.ok(!listed.stdout.includes(key.split('.')[1]!), 'the secret is never listed');
      await run(process.execPath, [BIN, '--data-dir', dir, 'keys', 'revoke', id], { cwd: dir });
      assert.match((await run(process.execPath, [BIN, '--data-dir', dir, 'keys', 'list'], { cwd: dir })).stdout, /revoked/);
      const bad = await run(process.execPath, [BIN, '--data-dir', dir, 'keys', 'create', '--workspace', 'shop', '--scopes', 'root'], { cwd: dir }).then(
        () => assert.fail('expected a failure'),
        (e: { stderr: string }) => e,
      );
      assert.match(bad.stderr, /PORTRAIT_KEY_INVALID_SCOPE/);
    } finally {
      cleanup();
    }
  });

  it('serve starts on the data directory, prints development keys once, ingests and serves profiles', async () => {
    const { dir, cleanup } = tempDir('portrait-serve-');
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, '--data-dir', dir, 'serve', '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      const address = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(err);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
      });
      const write = /write key:\s+(\S+)/.exec(err)![1]!;
      const secret = /secret key:\s+(\S+)/.exec(err)![1]!;
      const r = await fetch(`${address}/v1/identify`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${write}:`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'zoe', traits: { city: 'Lima', email: 'zoe@example.com' } }),
      });
      assert.equal(r.status, 200);
      let view: { attributes?: { city?: string; email?: string } } = {};
      for (let i = 0; i < 50 && view.attributes?.city === undefined; i++) {
        const g = await fetch(`${address}/v1/profiles/user_id/zoe`, { headers: { authorization: `Bearer ${secret}` } });
        if (g.status === 200) view = (await g.json()) as typeof view;
        else await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(view.attributes?.city, 'Lima');
      assert.equal(view.attributes?.email, 'zoe@example.com', 'the development secret key holds every scope, pii included (unmasked)');
      const audit = await fetch(`${address}/v1/audit`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(audit.status, 200, 'and admin (the audit log)');
    } finally {
      child.kill('SIGTERM');
      await new Promise((res) => child.once('exit', res));
      cleanup();
    }
  });
});

describe('portrait demo', () => {
  it('loads a generated sample with ten traits and keeps them in a config file', async () => {
    const { dir, cleanup } = tempDir('portrait-demo-');
    try {
      const out = await run(process.execPath, [BIN, 'demo', '--events', '3000', '--users', '30'], { cwd: dir });
      assert.match(out.stdout, /Loaded 3000 events into \d+ profiles/, out.stdout + out.stderr);
      const cfg = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'portrait.config.json'), 'utf8'))) as { traits: unknown[] };
      assert.equal(cfg.traits.length, 10);
      // The commands the demo suggests work as printed.
      const userId = /profile user_id (\S+)/.exec(out.stdout)?.[1];
      const email = /profile email (\S+)/.exec(out.stdout)?.[1];
      assert.ok(userId && email, `the demo names a user and an email to look at: ${out.stdout}`);
      const shown = await run(process.execPath, [BIN, 'profile', 'user_id', userId], { cwd: dir });
      const view = JSON.parse(shown.stdout) as { id: string; traits: Record<string, unknown>; eventCount: number };
      assert.equal(Object.keys(view.traits).length, 10, 'ten computed traits on the suggested profile');
      assert.ok(view.eventCount > 0, 'view.eventCount > 0');
      const byEmail = JSON.parse((await run(process.execPath, [BIN, 'profile', 'email', email], { cwd: dir })).stdout) as { id: string };
      assert.equal(byEmail.id, view.id, 'the suggested email finds the same profile');
    } finally {
      cleanup();
    }
  });
});

describe('portrait quarantine', () => {
  it('lists quarantined messages with their reasons and retries one with a fix', async () => {
    const { dir, cleanup } = tempDir('portrait-q-');
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([{ type: 'track', event: 'Signed Up', messageId: 'bad-1' }]);
      await p.close();
      const listed = await run(process.execPath, [BIN, '--data-dir', dir, 'quarantine', 'list'], { cwd: dir });
      const rows = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; reason: unknown; raw: string });
      assert.equal(rows.length, 1);
      assert.match(JSON.stringify(rows[0]!.reason), /userId|anonymousId/);
      assert.equal(JSON.parse(rows[0]!.raw).messageId, 'bad-1');

      const still = await run(process.execPath, [BIN, '--data-dir', dir, 'quarantine', 'retry', String(rows[0]!.id)], { cwd: dir }).then(
        () => assert.fail('an unchanged invalid message must fail again'),
        (e: { code: number; stdout: string }) => e,
      );
      assert.equal(still.code, 1);
      assert.match(still.stdout, /"status":"quarantined"/);

      const again = (await run(process.execPath, [BIN, '--data-dir', dir, 'quarantine', 'list'], { cwd: dir })).stdout.trim().split('\n');
      const newId = (JSON.parse(again[0]!) as { id: number }).id;
      const fixed = join(dir, 'fixed.json');
      await import('node:fs').then((fs) => fs.writeFileSync(fixed, JSON.stringify({ type: 'track', event: 'Signed Up', userId: 'kim', messageId: 'bad-1' })));
      const ok = await run(process.execPath, [BIN, '--data-dir', dir, 'quarantine', 'retry', String(newId), '--fixed', fixed], { cwd: dir });
      assert.match(ok.stdout, /"status":"accepted"/);
      assert.equal((await run(process.execPath, [BIN, '--data-dir', dir, 'quarantine', 'list'], { cwd: dir })).stdout.trim(), '');
      const shown = await run(process.execPath, [BIN, '--data-dir', dir, 'profile', 'user_id', 'kim'], { cwd: dir });
      assert.equal((JSON.parse(shown.stdout) as { eventCount: number }).eventCount, 1);
    } finally {
      cleanup();
    }
  });
});

describe('portrait segments and tags', () => {
  it('creates a segment that is kept across runs, lists, explains and pages members; sets a manual tag', async () => {
    const { dir, cleanup } = tempDir('portrait-cli-');
    try {
      const p = await Portrait.open({ dataDir: dir, traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] });
      await p.ingest([
        { type: 'track', userId: 'ann', event: 'Order Completed', messageId: 't1' },
        { type: 'track', userId: 'bob', event: 'Page Viewed', messageId: 't2' },
        { type: 'group', userId: 'ann', groupId: 'acme', messageId: 'g1' },
      ]);
      await p.drain();
      await p.close();
      writeFileSync(join(dir, 'portrait.config.json'), JSON.stringify({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] }));
      const cli = (...args: string[]) => run(process.execPath, [BIN, '--data-dir', dir, ...args], { cwd: dir });
      const created = JSON.parse((await cli('segments', 'create', 'buyers', 'traits.orders >= 1')).stdout) as { status: string; size: number };
      assert.deepEqual([created.status, created.size], ['live', 1], 'created and backfilled');
      assert.match((await cli('segments', 'list')).stdout, /^buyers\tlive\t1\ttraits\.orders >= 1$/m, 'listed in a later run');
      const explained = JSON.parse((await cli('segments', 'explain', 'buyers', 'user_id', 'bob')).stdout) as { member: boolean };
      assert.equal(explained.member, false, 'bob is out');
      assert.equal((await cli('segments', 'members', 'buyers')).stdout.split('\n').filter(Boolean).length, 1, 'one member');
      const bad = await cli('segments', 'create', 'x', 'traits.orders >=').then(
        () => assert.fail('expected a failure'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.match(bad.stderr, /PORTRAIT_SEGMENT_CONDITION_SYNTAX.*position 16/, 'syntax error with position');
      const bound = JSON.parse((await cli('segments', 'create', 'promo', 'traits.orders >= 1', '--purpose', 'marketing')).stdout) as { definition: { purpose?: string }; size: number };
      assert.deepEqual([bound.definition.purpose, bound.size], ['marketing', 0], 'bound to a purpose: ann gave no marketing consent, so no member');
      const unknownPurpose = await cli('segments', 'create', 'promo2', 'traits.orders >= 1', '--purpose', 'astrology').then(
        () => assert.fail('expected a failure'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.match(unknownPurpose.stderr, /PORTRAIT_SEGMENT_INVALID.*\/purpose/, 'an unknown purpose names its path');
      await cli('tags', 'create', 'interest/sports');
      const set = JSON.parse((await cli('tags', 'set', 'interest/sports', 'user_id', 'bob')).stdout) as { changed: boolean; messageId: string };
      assert.deepEqual([set.changed, /^tag-/.test(set.messageId)], [true, true], 'the decision and the message carrying it');
      assert.match((await cli('tags', 'tree')).stdout, /interest {2}0\/1 {2}\(group\)\n {2}sports {2}1\/1 {2}\(manual\)/, 'the tree with counts');
      const group = JSON.parse((await cli('tags', 'set', 'interest/sports', 'group_id', 'acme')).stdout) as { changed: boolean; messageId: string };
      assert.deepEqual([group.changed, /^tag-/.test(group.messageId)], [true, true], 'a group (account) is tagged the same way');
      assert.match((await cli('tags', 'tree')).stdout, /\n {2}sports {2}2\/2 {2}\(manual\)/, 'and counted once folded');
    } finally {
      cleanup();
    }
  });
});
