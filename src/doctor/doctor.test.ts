/** Doctor checks that need no CLI: the port, the engine's lag, services at wrong addresses, the text form. */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatResults } from '../cli/doctor.ts';
import { Portrait } from '../portrait/portrait.ts';
import { buildServer } from '../server/app.ts';
import { checkDatabases, engineLag } from './files.ts';
import { checkNode } from './index.ts';
import { checkNats, checkPort, checkPostgres, redact } from './network.ts';

async function listening(): Promise<{ server: Server; port: number }> {
  // Another program: it answers something that is not HTTP and hangs up.
  const server = createServer((socket) => socket.resume().end('SSH-2.0-OpenSSH_9.2\r\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

describe('doctor checks', () => {
  it('tells a free port, a port held by Portrait, and a port held by another program apart', async () => {
    const other = await listening();
    const taken = await checkPort('127.0.0.1', other.port);
    assert.equal(taken.status, 'fail', JSON.stringify(taken));
    assert.match(taken.message, /taken by another program/, 'another program');
    assert.match(taken.fix ?? '', /--port/, 'how to choose another port');
    await new Promise<void>((r) => other.server.close(() => r()));
    assert.equal((await checkPort('127.0.0.1', other.port)).status, 'ok', 'free once closed');

    const p = await Portrait.open({}, { memory: true });
    const app = buildServer(p);
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as { port: number }).port;
      const mine = await checkPort('127.0.0.1', port);
      assert.equal(mine.status, 'ok', JSON.stringify(mine));
      assert.match(mine.message, /Portrait is already listening/, 'recognises a running Portrait');
    } finally {
      await app.close();
      await p.close();
    }
  });

  it('fails a database whose pages are damaged (valid header, broken B-tree), read-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-doctor-unit-'));
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest(Array.from({ length: 3000 }, (_, i) => ({ type: 'identify', userId: `u${i}`, traits: { note: 'x'.repeat(200) }, messageId: `m${i}` })));
      await p.drain();
      await p.close();
      const healthy = checkDatabases(dir, 'default');
      assert.ok(healthy.every((c) => c.status !== 'fail'), `healthy first: ${JSON.stringify(healthy)}`);
      // Overwrite pages in the middle of the state file, keeping its first page (the header) intact.
      const fd = openSync(join(dir, 'state.db'), 'r+');
      writeSync(fd, Buffer.alloc(4096 * 8, 0xa5), 0, 4096 * 8, 4096 * 4);
      closeSync(fd);
      const damaged = checkDatabases(dir, 'default').find((c) => c.name === 'state.db');
      assert.equal(damaged?.status, 'fail', JSON.stringify(damaged));
      assert.match(damaged!.message, /integrity check|malformed|cannot be read/, 'says the file is damaged');
      assert.match(damaged!.fix ?? '', /portrait rebuild/, 'says how to recover');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks the data-key file beside state.db: present and counted, damaged or missing as a failure that says to restore it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-doctor-keys-'));
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([{ type: 'identify', userId: 'u1', traits: { email: 'ann@example.com' }, messageId: 'm1' }]);
      await p.drain();
      await p.close();
      const healthy = checkDatabases(dir, 'default').find((c) => c.name === 'state.keys.db');
      assert.equal(healthy?.status, 'ok', JSON.stringify(healthy));
      assert.match(healthy!.message, /1 data key/, 'counts the keys');
      const fd = openSync(join(dir, 'state.keys.db'), 'r+');
      writeSync(fd, Buffer.alloc(100, 0xa5), 0, 100, 0);
      closeSync(fd);
      const damaged = checkDatabases(dir, 'default').find((c) => c.name === 'state.keys.db');
      assert.equal(damaged?.status, 'fail', JSON.stringify(damaged));
      assert.match(damaged!.fix ?? '', /restore state\.keys\.db/, 'says how to recover');
      for (const f of ['state.keys.db', 'state.keys.db-wal', 'state.keys.db-shm']) rmSync(join(dir, f), { force: true });
      const missing = checkDatabases(dir, 'default').find((c) => c.name === 'state.keys.db');
      assert.equal(missing?.status, 'fail', JSON.stringify(missing));
      assert.match(missing!.message, /missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports the engine lag, and a state ahead of its log as a failure', () => {
    assert.equal(engineLag(10, 10).status, 'ok', 'no lag');
    assert.equal(engineLag(100, 90).status, 'ok', 'a small backlog is normal');
    assert.equal(engineLag(100_000, 10).status, 'warn', 'a large backlog warns');
    const ahead = engineLag(5, 9);
    assert.equal(ahead.status, 'fail', 'state beyond the log');
    assert.match(ahead.fix ?? '', /rebuild/, 'fix names rebuild');
  });

  it('fails services that do not answer, without printing passwords', async () => {
    const pg = await checkPostgres('postgres://ann:secret@127.0.0.1:1/none');
    assert.equal(pg.status, 'fail', JSON.stringify(pg));
    assert.doesNotMatch(pg.message, /secret/, 'the password is hidden');
    assert.match(pg.fix ?? '', /PORTRAIT_DATABASE_URL/, 'names the setting');
    const nats = await checkNats('nats://127.0.0.1:1');
    assert.equal(nats.status, 'fail', JSON.stringify(nats));
    assert.match(nats.fix ?? '', /PORTRAIT_NATS_URL/, 'names the setting');
    assert.equal(redact('postgres://u:p@h/db'), 'postgres://u:***@h/db', 'redacts');
  });

  it('checks the Node.js version and prints OK / WARN / FAIL lines with fixes', () => {
    assert.equal(checkNode('18.19.0').status, 'fail', 'Node 18 is too old');
    assert.equal(checkNode('20.11.1').status, 'ok', 'Node 20 is fine');
    const text = formatResults([
      { name: 'a', status: 'ok', message: 'fine' },
      { name: 'bb', status: 'fail', message: 'broken', fix: 'mend it' },
    ]);
    assert.match(text, /^OK {4}a {3}fine$/m, 'an OK line');
    assert.match(text, /^FAIL {2}bb {2}broken\n.*→ mend it$/m, 'a FAIL line and its fix');
    assert.match(text, /1 check\(s\) failed/, 'a summary');
  });
});
