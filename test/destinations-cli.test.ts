import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Portrait } from '../src/index.ts';
import { tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

describe('portrait destinations and export-segment', () => {
  it('creates and lists destinations, shows the delivery log, replays dead letters and exports a segment', async () => {
    const { dir, cleanup } = tempDir('portrait-dest-cli-');
    try {
      const p = await Portrait.open({ dataDir: dir, delivery: { maxAttempts: 1 } });
      await p.ingest([{ type: 'identify', userId: 'ann', traits: { city: 'Lima' }, messageId: 'i1' }]);
      await p.drain();
      const ann = (await p.profile('user_id', 'ann'))!.id;
      // A segment nobody matches; its member is set directly.
      await p.segments.put('segment', { name: 'vip', condition: 'event_count > 1000000' });
      await p.drain();
      await p.destinations.store.addMembers([{ workspace: 'default', segment: 'vip', profileId: ann, since: 0 }]);
      // Port 9 (discard) refuses connections here: one attempt, then a dead letter.
      await p.destinations.create('default', { id: 'down', url: 'http://127.0.0.1:9/hook', kinds: ['segment.entered'] });
      await p.destinations.store.appendOutbox([{ workspace: 'default', kind: 'segment.entered', profileId: ann, payload: '{"segment":"vip","time":0}', position: 1, createdAt: 0 }]);
      await p.destinations.worker.runOnce();
      await p.close();
      const cli = (...args: string[]) => run(process.execPath, [BIN, '--data-dir', dir, ...args], { cwd: dir });

      const created = JSON.parse((await cli('destinations', 'create', '--id', 'crm', '--url', 'https://crm.example/hook', '--kinds', 'segment.entered,segment.exited', '--segments', 'vip')).stdout);
      assert.equal(created.id, 'crm', 'created with the id');
      assert.match(created.secret, /^whsec_/, 'the secret is printed');
      const listed = (await cli('destinations', 'list')).stdout.trim().split('\n');
      assert.deepEqual(listed.map((l) => l.split('\t')[0]).sort(), ['crm', 'down'], 'both listed');
      assert.ok(listed.some((l) => l === 'crm\tenabled\tsegment.entered,segment.exited\tvip\t*\thttps://crm.example/hook\tapi'), `crm line: ${listed.join(' | ')}`);

      const dead = (await cli('destinations', 'deliveries', 'down', '--status', 'dead')).stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(dead.length, 1, 'one dead delivery');
      assert.match(dead[0].lastError, /fetch failed|ECONNREFUSED/, `the error is shown: ${dead[0].lastError}`);
      assert.match((await cli('destinations', 'replay', 'down')).stdout, /^replayed 1: down:1/, 'replayed');
      // Each CLI call opens its own instance: keep their number small on a shared machine.
      const csv = (await cli('export-segment', 'vip', '--format', 'csv', '--fields', 'city')).stdout;
      assert.equal(csv, `profile_id,identifiers,member_since,city\r\n${ann},user:ann,1970-01-01T00:00:00.000Z,Lima\r\n`, 'csv export');
      await cli('export-segment', 'vip', '--format', 'ndjson', '-o', join(dir, 'vip.ndjson'));
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'vip.ndjson'), 'utf8')), { profileId: ann, identifiers: ['user:ann'], memberSince: '1970-01-01T00:00:00.000Z', attributes: {} }, 'ndjson file');
    } finally {
      cleanup();
    }
  });
});
