import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Portrait } from '../index.ts';
import { isCompleteRecord, parseCsvRecord, parseMappings, rowToMessage } from './csv-mapping.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'portrait.js');

function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'portrait-import-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `portrait --data-dir <dir>/data import ...` in `dir` (so no configuration file is picked up). */
function portrait(dir: string, ...args: string[]) {
  return run(process.execPath, [BIN, '--data-dir', join(dir, 'data'), 'import', ...args], { cwd: dir });
}

const summary = (accepted: number, duplicates: number, quarantined: number, rejected: number) =>
  new RegExp(`^imported ${accepted} accepted, ${duplicates} duplicates, ${quarantined} quarantined, ${rejected} rejected lines in \\d+\\.\\d s \\(\\d+ events/s\\)\\n$`);

const readRejects = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; reason: string; raw: string });

describe('portrait import', () => {
  it('imports NDJSON in batches, and re-running the import changes nothing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'events.ndjson');
      const lines = [
        { type: 'identify', userId: 'ann', traits: { city: 'Lima' } },
        ...Array.from({ length: 6 }, (_, i) => ({ type: 'track', userId: 'ann', event: 'Viewed', properties: { n: i }, timestamp: `2026-11-01T10:0${i}:00Z` })),
        { type: 'track', userId: 'bob', event: 'Viewed', messageId: 'bob-1' },
      ];
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

      const first = await portrait(dir, file, '--batch', '3', '--no-progress');
      assert.match(first.stdout, summary(8, 0, 0, 0));
      assert.equal(existsSync(`${file}.rejects.ndjson`), false, 'no rejects file when nothing was rejected');

      const p = await Portrait.open({ dataDir: join(dir, 'data') });
      try {
        await p.drain();
        assert.equal((await p.profile('user_id', 'ann'))?.eventCount, 7);
        assert.equal((await p.profile('user_id', 'bob'))?.eventCount, 1);
        const ids = (await p.events('user_id', 'ann', { limit: 100 })).events.map((e) => e.record.messageId);
        assert.equal(ids.length, 7);
        for (const id of ids) assert.match(id, /^imp-[0-9a-f]{32}$/);
      } finally {
        await p.close();
      }

      const again = await portrait(dir, file, '--no-progress');
      assert.match(again.stdout, summary(0, 8, 0, 0));
    } finally {
      cleanup();
    }
  });

  it('writes broken JSON lines and quarantined messages to the rejects file and imports the rest', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'mixed.jsonl');
      const noIds = '{"type":"track","event":"Orphan"}';
      const broken = '{"type":"track", "userId": "ann"';
      writeFileSync(
        file,
        [
          '{"type":"track","userId":"ann","event":"A"}',
          broken,
          '',
          noIds,
          '{"type":"track","userId":"ann","event":"B"}',
        ].join('\r\n') + '\r\n',
      );

      const r = await portrait(dir, file, '--no-progress');
      assert.match(r.stdout, summary(2, 0, 1, 1));
      assert.match(r.stderr, /2 rejected or quarantined lines written to/);

      const rejects = readRejects(`${file}.rejects.ndjson`);
      assert.equal(rejects.length, 2);
      const byLine = new Map(rejects.map((x) => [x.line, x]));
      assert.equal(byLine.get(2)?.raw, broken);
      assert.match(byLine.get(2)!.reason, /^invalid JSON/);
      assert.equal(byLine.get(4)?.raw, noIds);
      assert.match(byLine.get(4)!.reason, /^quarantined \(#\d+\): /);

      const p = await Portrait.open({ dataDir: join(dir, 'data') });
      try {
        await p.drain();
        assert.equal((await p.profile('user_id', 'ann'))?.eventCount, 2);
        const q = await p.quarantined();
        assert.equal(q.length, 1);
        assert.match(q[0]!.raw, /Orphan/);
      } finally {
        await p.close();
      }

      // Run again: the quarantined line finds its row (the import gave it a messageId), so the quarantine does not grow.
      const again = await portrait(dir, file, '--no-progress');
      assert.match(again.stdout, summary(0, 2, 1, 1));
      assert.equal(readRejects(`${file}.rejects.ndjson`).find((x) => x.line === 4)?.reason, byLine.get(4)!.reason, 'the same quarantine row, by number');
      const reopened = await Portrait.open({ dataDir: join(dir, 'data') });
      try {
        assert.equal((await reopened.quarantined()).length, 1, 'still one row');
      } finally {
        await reopened.close();
      }
    } finally {
      cleanup();
    }
  });

  it('imports CSV through a column mapping (quoted commas, escaped quotes, CRLF, line breaks in quotes)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'orders.csv');
      const rejectsFile = join(dir, 'bad-rows.ndjson');
      writeFileSync(
        file,
        [
          'user,event,price,note,ts',
          'ann,Order Completed,9.50,"Widget, large",2026-11-01T10:00:00Z',
          'ann,Order Completed,12,"say ""hi""",2026-11-01T11:00:00Z',
          'ann,Order Completed,3,"two\r\nlines",2026-11-01T12:00:00Z',
          'bob,Order Completed,1',
          'bob,Order Completed,007x,plain,2026-11-01T13:00:00Z',
        ].join('\r\n') + '\r\n',
      );
      const map = ['--map', 'user=userId', '--map', 'event=event', '--map', 'price=properties.price', '--map', 'note=properties.note', '--map', 'ts=timestamp'];

      const r = await portrait(dir, file, ...map, '--type', 'track', '--rejects', rejectsFile, '--no-progress');
      assert.match(r.stdout, summary(4, 0, 0, 1));
      const rejects = readRejects(rejectsFile);
      assert.deepEqual(rejects, [{ line: 6, reason: 'expected 5 columns, found 3', raw: 'bob,Order Completed,1' }]);

      const p = await Portrait.open({ dataDir: join(dir, 'data') });
      try {
        await p.drain();
        const events = (await p.events('user_id', 'ann')).events.map((e) => e.record).reverse();
        assert.deepEqual(
          events.map((e) => [e.type, e.event, e.properties]),
          [
            ['track', 'Order Completed', { price: 9.5, note: 'Widget, large' }],
            ['track', 'Order Completed', { price: 12, note: 'say "hi"' }],
            ['track', 'Order Completed', { price: 3, note: 'two\nlines' }],
          ],
        );
        assert.equal(events[0]!.timestamp, Date.parse('2026-11-01T10:00:00Z'));
        const bob = (await p.events('user_id', 'bob')).events.map((e) => e.record.properties);
        assert.deepEqual(bob, [{ price: '007x', note: 'plain' }]);
      } finally {
        await p.close();
      }

      const again = await portrait(dir, file, ...map, '--rejects', rejectsFile, '--no-progress');
      assert.match(again.stdout, summary(0, 4, 0, 1));
    } finally {
      cleanup();
    }
  });

  it('fails with PORTRAIT_IMPORT_FILE when the file cannot be read', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const e = await portrait(dir, join(dir, 'missing.ndjson'), '--no-progress').then(
        () => assert.fail('expected a failure'),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(e.code, 1);
      assert.match(e.stderr, /PORTRAIT_IMPORT_FILE/);
      assert.equal(existsSync(join(dir, 'missing.ndjson.rejects.ndjson')), false);
    } finally {
      cleanup();
    }
  });
});

describe('CSV parsing', () => {
  it('parses quoted fields, escaped quotes, empty fields and line breaks inside quotes', () => {
    assert.deepEqual(parseCsvRecord('a,"b, c","say ""x""",,"l1\r\nl2",'), { ok: true, fields: ['a', 'b, c', 'say "x"', '', 'l1\r\nl2', ''] });
    assert.deepEqual(parseCsvRecord(''), { ok: true, fields: [''] });
    assert.deepEqual(parseCsvRecord('""'), { ok: true, fields: [''] });
  });

  it('refuses malformed records', () => {
    assert.equal(parseCsvRecord('"open').ok, false);
    assert.equal(parseCsvRecord('"a"b,c').ok, false);
    assert.equal(parseCsvRecord('a"b,c').ok, false);
  });

  it('knows when a quoted field continues on the next line', () => {
    assert.equal(isCompleteRecord('a,"b'), false);
    assert.equal(isCompleteRecord('a,"b\nc"'), true);
    assert.equal(isCompleteRecord('a,"say ""hi"""'), true);
  });

  it('reads back any record written per RFC 4180', () => {
    const field = fc.string({ unit: fc.constantFrom('a', ',', '"', '\r\n', '\n', ' ', 'é') });
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), (fields) => {
        const text = fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(',');
        assert.equal(isCompleteRecord(text), true);
        assert.deepEqual(parseCsvRecord(text), { ok: true, fields });
      }),
    );
  });

  it('maps columns to message paths, numbers under properties and traits only', () => {
    const header = ['id', 'kind', 'age', 'zip', 'empty'];
    const mappings = parseMappings(['id=userId', 'kind=type', 'age=traits.age', 'zip=context.zip', 'empty=traits.x'], header);
    assert.deepEqual(rowToMessage(header, ['u1', 'identify', '42', '01234', ''], mappings, 'track'), {
      userId: 'u1',
      type: 'identify',
      traits: { age: 42 },
      context: { zip: '01234' },
    });
    assert.deepEqual(rowToMessage(['a'], ['-1.5e3'], parseMappings([], ['a']), 'page'), { a: '-1.5e3', type: 'page' });
    assert.throws(() => parseMappings(['nope=userId'], header), /no column "nope"/);
    assert.throws(() => parseMappings(['id'], header), /column=path/);
    assert.throws(() => parseMappings(['id=__proto__.x'], header), /not a valid dotted path/);
  });
});
