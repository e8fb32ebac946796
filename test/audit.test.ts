import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory, tempDir } from './support/open.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'portrait.js');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test answers are read loosely

describe('audit log over HTTP', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let read: string;
  let admin: string;
  let other: string;
  let readId: string;

  const get = (url: string, key: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

  before(async () => {
    ({ p } = await openMemory());
    write = (await p.keys.create('default', ['write'])).key;
    const r = await p.keys.create('default', ['read']);
    read = r.key;
    readId = r.info.id;
    admin = (await p.keys.create('default', ['admin'])).key;
    other = (await p.keys.create('other', ['admin', 'read'])).key;
    app = buildServer(p);
    await p.ingest([{ type: 'identify', userId: 'u1', traits: { email: 'ann@example.com' } }]);
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('records reads of personal data and admin actions with the route pattern, never the URL; not ingest', async () => {
    assert.equal((await get('/v1/profiles/email/ann@example.com', read)).statusCode, 200, 'the read succeeds');
    assert.equal((await get('/v1/profiles/user_id/nobody', read)).statusCode, 404, 'a miss is recorded too');
    const ingest = await app.inject({ method: 'POST', url: '/v1/track', headers: { authorization: `Bearer ${write}` }, payload: { userId: 'u1', event: 'X' } });
    assert.equal(ingest.statusCode, 200, 'ingest succeeds');
    assert.equal((await app.inject({ method: 'PUT', url: '/v1/traits/orders', headers: { authorization: `Bearer ${admin}` }, payload: { name: 'orders', kind: 'count', filter: { event: 'X' } } })).statusCode, 201, 'an admin action');
    const r = await get('/v1/audit', admin);
    assert.equal(r.statusCode, 200, 'an admin key reads the audit log');
    const items = (r.json() as Json).items as Json[];
    assert.ok(!r.body.includes('ann@example.com'), 'the audit log holds no email from a URL');
    const routes = items.map((i) => `${i.method} ${i.route} ${i.status}`);
    assert.ok(routes.includes('GET /v1/profiles/:idType/:id 200'), `the profile read is recorded: ${routes.join('; ')}`);
    assert.ok(routes.includes('GET /v1/profiles/:idType/:id 404'), 'the miss is recorded');
    assert.ok(routes.includes('PUT /v1/traits/:name 201'), 'the admin action is recorded');
    assert.ok(!routes.some((x) => x.includes('/v1/track')), 'ingest is not recorded');
    const read1 = items.find((i) => i.status === 200 && i.route === '/v1/profiles/:idType/:id')!;
    assert.equal(read1.keyId, readId, 'the key id is kept');
    assert.equal(read1.workspace, 'default', 'the workspace is kept');
    assert.equal(read1.scope, 'read', 'the scope the route asked for');
    assert.match(read1.requestId, /\S/, 'the request id is kept');
    assert.ok(!Number.isNaN(Date.parse(read1.time)), 'the time is ISO 8601');
  });

  it('filters by key, route and time, pages newest first, and stays in its workspace', async () => {
    const byKey = (await get(`/v1/audit?keyId=${readId}`, admin)).json() as Json;
    assert.ok(byKey.items.length >= 2 && byKey.items.every((i: Json) => i.keyId === readId), 'filter by key');
    const byRoute = (await get(`/v1/audit?route=${encodeURIComponent('/v1/traits/:name')}`, admin)).json() as Json;
    assert.ok(byRoute.items.length >= 1 && byRoute.items.every((i: Json) => i.route === '/v1/traits/:name'), 'filter by route');
    const future = (await get(`/v1/audit?from=${Date.now() + 3_600_000}`, admin)).json() as Json;
    assert.deepEqual(future.items, [], 'filter by time');
    const page1 = (await get('/v1/audit?limit=1', admin)).json() as Json;
    assert.equal(page1.items.length, 1, 'a page of one');
    assert.equal(typeof page1.next, 'number', 'a next cursor');
    const page2 = (await get(`/v1/audit?limit=1&before=${page1.next}`, admin)).json() as Json;
    assert.ok(page2.items[0].seq < page1.items[0].seq, 'the next page is older');
    const foreign = (await get('/v1/audit', other)).json() as Json;
    assert.ok(foreign.items.every((i: Json) => i.workspace === 'other'), "another workspace's admin sees only its own records");
    assert.equal((await get('/v1/audit', read)).statusCode, 403, 'a read key may not read the audit log');
    assert.equal((await get('/v1/audit?from=yesterday', admin)).statusCode, 400, 'a bad time is a 400');
  });
});

describe('portrait audit (CLI)', () => {
  it('prints the stored trail of a file instance as NDJSON', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = await Portrait.open({ dataDir: dir });
      const read = (await p.keys.create('default', ['read'])).key;
      const app = buildServer(p);
      await app.inject({ method: 'GET', url: '/v1/profiles/email/someone@example.com', headers: { authorization: `Bearer ${read}` } });
      await app.close();
      await p.close();
      const out = await run(process.execPath, [BIN, '--data-dir', dir, 'audit', '--route', '/v1/profiles/:idType/:id'], { cwd: dir });
      const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Json);
      assert.equal(lines.length, 1, 'one record');
      assert.equal(lines[0]!.status, 404, 'with its status');
      assert.ok(!out.stdout.includes('someone@example.com'), 'no URL, so no email');
    } finally {
      cleanup();
    }
  });
});
