import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

/** Runs `portrait serve` expecting it to fail; returns its exit code and stderr. */
async function refused(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  const { dir, cleanup } = tempDir('portrait-role-');
  try {
    const noCluster = { ...process.env, PORTRAIT_DATABASE_URL: '', PORTRAIT_NATS_URL: '', PORTRAIT_ROLE: '', ...env };
    return await run(process.execPath, [BIN, '--data-dir', dir, 'serve', '--port', '0', ...args], { cwd: dir, env: noCluster, timeout: 30_000 }).then(
      () => assert.fail('serve was expected to refuse to start'),
      (e: { code: number; stderr: string }) => e,
    );
  } finally {
    cleanup();
  }
}

describe('portrait serve --role', () => {
  it('refuses an unknown role, naming the choices', async () => {
    const r = await refused(['--role', 'reader']);
    assert.equal(r.code, 1, 'exit code 1');
    assert.match(r.stderr, /PORTRAIT_CONFIG_INVALID[^]*must be one of all, api, worker/, 'the error names the roles');
  });

  it('refuses api and worker roles without PostgreSQL and NATS, from the flag or PORTRAIT_ROLE', async () => {
    for (const [args, env] of [[['--role', 'worker'], {}], [[], { PORTRAIT_ROLE: 'api' }]] as const) {
      const r = await refused([...args], env);
      assert.equal(r.code, 1, `exit code 1 for ${args.join(' ') || JSON.stringify(env)}`);
      assert.match(r.stderr, /PORTRAIT_CONFIG_INVALID[^]*needs cluster\.databaseUrl and cluster\.natsUrl/, 'the error says what the role needs');
    }
  });
});
