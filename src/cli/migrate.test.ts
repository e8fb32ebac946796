import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/open.ts';
import { migrateStorage } from '../storage/index.ts';
import { SQLITE_MIGRATIONS } from '../storage/sqlite/sqlite-schema.ts';
import { formatMigrationReport } from './migrate.ts';

describe('portrait migrate', () => {
  it('--status on a new data directory lists every version as pending and creates nothing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await migrateStorage({ dataDir: join(dir, 'data') }, false);
      assert.equal(existsSync(join(dir, 'data', 'state.db')), false, 'no file is created by a status check');
      const pending = SQLITE_MIGRATIONS.map((m) => `  pending  ${m.version} ${m.name}\n`).join('');
      assert.equal(
        formatMigrationReport(r, true),
        `sqlite ${join(dir, 'data', 'state.db')}: schema version 0\n${pending}${SQLITE_MIGRATIONS.length} pending: run \`portrait migrate\` to apply\n`,
        'the status text',
      );
    } finally {
      cleanup();
    }
  });

  it('applies the pending migrations, prints them, and is a no-op the second time', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await migrateStorage({ dataDir: dir }, true);
      const latest = SQLITE_MIGRATIONS.length;
      assert.deepEqual(first.applied.map((m) => m.version), SQLITE_MIGRATIONS.map((m) => m.version), 'every version applied');
      assert.match(formatMigrationReport(first, false), new RegExp(`applying 1 initial schema … done\\n[^]*now at schema version ${latest}\\n$`), 'the run is reported');
      const second = await migrateStorage({ dataDir: dir }, true);
      assert.deepEqual([second.before.current, second.applied.length], [latest, 0], 'nothing left to apply');
      assert.match(formatMigrationReport(second, false), /up to date, nothing to apply\n$/, 'and says so');
      assert.match(formatMigrationReport(second, true), /applied {2}1 initial schema \(\d{4}-/, 'the status shows when version 1 was applied');
    } finally {
      cleanup();
    }
  });
});
