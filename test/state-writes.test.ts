/**
 * On files, the writes made while serving (new data keys, audit records,
 * quarantined messages) go through writer threads: over HTTP, each answer
 * still carries the right status and ids, nothing valid is lost beside an
 * invalid message, and what they wrote survives a restart.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { tempDir } from './support/open.ts';

describe('writes made while serving, on files', () => {
  it('keeps valid messages beside invalid ones, quarantines those with their reasons, stores data keys and audit records that outlive a restart', async () => {
    const { dir, cleanup } = tempDir();
    try {
      let p = await Portrait.open({ dataDir: dir });
      let app = buildServer(p);
      const call = caller(() => app);
      const write = (await p.keys.create('default', ['write'])).key;
      const reader = (await p.keys.create('default', ['read', 'pii'])).key;
      const admin = (await p.keys.create('default', ['admin'])).key;
      try {
        const batch = await call('POST', '/v1/batch', write, {
          batch: [
            { type: 'identify', userId: 'u1', messageId: 'm1', traits: { email: 'ann@example.com', city: 'Lima' } },
            { type: 'track', userId: 'u1', messageId: 'm2' },
            { type: 'identify', userId: 'u2', messageId: 'm3', traits: { email: 'bo@example.com' } },
            { type: 'track', messageId: 'm4', event: 'No ids' },
          ],
        });
        assert.equal(batch.statusCode, 200, batch.body);
        assert.deepEqual(batch.json(), { success: true, accepted: 2, duplicates: 0, quarantined: 2 });

        const single = await call('POST', '/v1/track', write, { userId: 'u3', messageId: 'm5' });
        assert.equal(single.statusCode, 400, single.body);
        assert.equal(errorCode(single), 'PORTRAIT_EVENT_INVALID');
        const quarantineId = (single.json() as { error: { quarantineId: number } }).error.quarantineId;
        const row = await call('GET', `/v1/quarantine/${quarantineId}`, reader);
        assert.equal(row.statusCode, 200, row.body);
        assert.match(row.body, /m5/, 'the quarantined row holds the raw message');
        const listed = (await call('GET', '/v1/quarantine', reader)).json() as { quarantined: Array<{ raw: string }> };
        assert.deepEqual(
          listed.quarantined.map((q) => (JSON.parse(q.raw) as { messageId: string }).messageId),
          ['m2', 'm4', 'm5'],
          'every invalid message is kept, in order',
        );

        await p.drain();
        for (const [id, email] of [['u1', 'ann@example.com'], ['u2', 'bo@example.com']] as const) {
          const r = await call('GET', `/v1/profiles/user_id/${id}`, reader);
          assert.equal(r.statusCode, 200, r.body);
          assert.equal((r.json() as { attributes: { email?: string } }).attributes.email, email, 'opened with its data key');
        }
      } finally {
        await app.close();
        await p.close();
      }
      assert.ok(existsSync(join(dir, 'state.keys.db')), 'the data keys have their own file');

      p = await Portrait.open({ dataDir: dir });
      app = buildServer(p);
      try {
        const events = await call('GET', '/v1/profiles/user_id/u1/events', reader);
        assert.equal(events.statusCode, 200, events.body);
        assert.match(events.body, /ann@example\.com/, "after a restart the log's personal fields still open");
        const audit = await call('GET', '/v1/audit', admin);
        assert.equal(audit.statusCode, 200, audit.body);
        const routes = (audit.json() as { items: Array<{ route: string }> }).items.map((i) => i.route);
        assert.ok(routes.includes('/v1/profiles/:idType/:id') && routes.includes('/v1/quarantine/:id'), `the reads before the restart were audited: ${routes.join(', ')}`);
      } finally {
        await app.close();
        await p.close();
      }
    } finally {
      cleanup();
    }
  });
});
