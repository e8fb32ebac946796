import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Portrait } from '../src/index.ts';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/** A port nothing listens on (the doctor must not depend on what else runs here). */
async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Runs `portrait doctor --json`; resolves to the exit code and the checks by name. */
async function doctor(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; checks: Map<string, Check>; stdout: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, PORT: String(await freePort()), ...env };
  delete base.PORTRAIT_DATABASE_URL;
  delete base.PORTRAIT_NATS_URL;
  delete base.PORTRAIT_CONFIG;
  const r = await run(process.execPath, [BIN, ...args, 'doctor', '--json'], { cwd, env: base }).then(
    (x) => ({ code: 0, stdout: x.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  const parsed = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  assert.equal(parsed.ok, r.code === 0, 'ok in the JSON matches the exit code');
  return { code: r.code, checks: new Map(parsed.checks.map((c) => [c.name, c])), stdout: r.stdout };
}

const statusOf = (checks: Map<string, Check>, name: string) => checks.get(name)?.status;

describe('portrait doctor', () => {
  it('passes a healthy data directory and prints every check', async () => {
    const { dir, cleanup } = tempDir('portrait-doctor-');
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([{ type: 'identify', userId: 'ann', traits: { city: 'Lima' } }]);
      await p.drain();
      await p.keys.create('default', ['write']);
      await p.close();
      const { code, checks, stdout } = await doctor(['--data-dir', dir], dir);
      assert.equal(code, 0, stdout);
      for (const name of ['config', 'node', 'data dir', 'disk space', 'log.db', 'state.db', 'engine lag', 'api keys', 'http port']) {
        assert.equal(statusOf(checks, name), 'ok', `${name}: ${JSON.stringify(checks.get(name))}`);
      }
      assert.match(checks.get('engine lag')!.message, /up to date/, 'no lag after a drain');
      const text = await run(process.execPath, [BIN, '--data-dir', dir, 'doctor'], { cwd: dir, env: { ...process.env, PORT: String(await freePort()) } });
      assert.match(text.stdout, /^OK {2}/m, 'the text form prints OK lines');
      assert.match(text.stdout, /All checks passed|No failures/, 'and a summary');
    } finally {
      cleanup();
    }
  });

  it('fails on a corrupt database file and says how to recover', async () => {
    const { dir, cleanup } = tempDir('portrait-doctor-');
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.close();
      writeFileSync(join(dir, 'state.db'), Buffer.alloc(8192, 0x5a));
      for (const f of ['state.db-wal', 'state.db-shm']) writeFileSync(join(dir, f), '');
      const { code, checks } = await doctor(['--data-dir', dir], dir);
      assert.equal(code, 1, 'exit code 1 when a check fails');
      const state = checks.get('state.db');
      assert.equal(state?.status, 'fail', JSON.stringify(state));
      assert.match(state!.message, /not a database|cannot be read/, 'says what is wrong');
      assert.match(state!.fix ?? '', /portrait rebuild/, 'says how to fix it');
      assert.equal(statusOf(checks, 'log.db'), 'ok', 'the sound file still passes');
    } finally {
      cleanup();
    }
  });

  it('fails on a data directory that cannot be written', async () => {
    const { dir, cleanup } = tempDir('portrait-doctor-');
    try {
      // Permission bits do not stop root; /proc refuses new files to everyone.
      const { code, checks } = await doctor(['--data-dir', '/proc/portrait-doctor-data'], dir);
      assert.equal(code, 1, 'exit code 1');
      const d = checks.get('data dir');
      assert.equal(d?.status, 'fail', JSON.stringify(d));
      assert.match(d!.message, /not writable/, 'says it is not writable');
      assert.match(d!.fix ?? '', /write access|another dataDir/, 'says how to fix it');
    } finally {
      cleanup();
    }
  });

  it('fails on an invalid configuration, naming each bad setting, and still runs the other checks', async () => {
    const { dir, cleanup } = tempDir('portrait-doctor-');
    try {
      writeFileSync(join(dir, 'portrait.config.json'), JSON.stringify({ server: { maxLag: 0 }, colour: 'blue' }));
      const { code, checks } = await doctor(['--data-dir', dir], dir);
      assert.equal(code, 1, 'exit code 1');
      const c = checks.get('config');
      assert.equal(c?.status, 'fail', JSON.stringify(c));
      assert.match(c!.message, /portrait\.config\.json/, 'names the file');
      assert.match(c!.message, /\/server\/maxLag: must be >= 1/, 'names the bad bound');
      assert.match(c!.message, /\/colour: is not a known setting/, 'names the unknown setting');
      assert.match(c!.fix ?? '', /portrait\.config\.json/, 'the fix names the file');
      assert.ok(checks.has('data dir'), 'the other checks still ran');
    } finally {
      cleanup();
    }
  });
});
