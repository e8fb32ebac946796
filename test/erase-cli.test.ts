import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Portrait } from '../src/index.ts';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

describe('portrait export / erase', () => {
  it('export writes the person as JSON; erase --compact waits, prints the ledger entry and leaves no trace in the files', async () => {
    const { dir, cleanup } = tempDir('portrait-erase-cli-');
    try {
      const p = await Portrait.open({ dataDir: dir });
      await p.ingest([
        { type: 'identify', userId: 'cli-person-9f2', traits: { email: 'cli.person@example.net', city: 'Quixotetown' }, messageId: 'i1' },
        { type: 'track', userId: 'cli-person-9f2', event: 'Order Completed', properties: { shipTo: '77 Sanchoweg' }, messageId: 't1' },
        { type: 'identify', userId: 'cli-other', traits: { city: 'Elsewhere' }, messageId: 'i2' },
      ]);
      await p.drain();
      await p.close();
      const out = join(dir, 'export.json');
      await run(process.execPath, [BIN, '--data-dir', dir, 'export', 'email', 'cli.person@example.net', '--out', out], { cwd: dir });
      const exported = JSON.parse(readFileSync(out, 'utf8')) as { profile: { attributes: Record<string, unknown> }; events: unknown[] };
      assert.equal(exported.profile.attributes.city, 'Quixotetown', 'the export file holds the profile');
      assert.equal(exported.events.length, 2, 'and the events');

      const missing = await run(process.execPath, [BIN, '--data-dir', dir, 'erase', 'user_id', 'nobody'], { cwd: dir }).then(
        () => assert.fail('erasing an unknown person must fail'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(missing.code, 1, 'an unknown person exits 1');
      assert.match(missing.stderr, /PORTRAIT_PROFILE_NOT_FOUND/, 'with the typed error');

      const erased = await run(process.execPath, [BIN, '--data-dir', dir, 'erase', 'user_id', 'cli-person-9f2', '--compact'], { cwd: dir });
      const entry = JSON.parse(erased.stdout) as { status: string; removed: Record<string, number> };
      assert.equal(entry.status, 'completed', 'erase waits for completion');
      assert.equal(entry.removed.events, 2, 'the ledger entry counts the events removed');
      const files = readdirSync(dir).filter((f) => f !== 'export.json').map((f) => readFileSync(join(dir, f)));
      for (const v of ['cli-person-9f2', 'cli.person@example.net', 'Quixotetown', 'Sanchoweg']) {
        assert.ok(!files.some((b) => b.includes(Buffer.from(v))), `"${v}" is in no data file after erase --compact`);
      }
      assert.ok(files.some((b) => b.includes(Buffer.from('Elsewhere'))), 'the other person is still stored');
    } finally {
      cleanup();
    }
  });
});
