import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
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
