/**
 * The official SDKs against the real server: @segment/analytics-node posts
 * `/v1/batch` (HTTP Basic, writeKey in body), posthog-node posts gzip
 * `{api_key, batch, sent_at}` to `/batch/`. Profiles must hold what was sent.
 */
import LZString from 'lz-string';
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Analytics } from '@segment/analytics-node';
import type { FastifyInstance } from 'fastify';
import { PostHog } from 'posthog-node';
import { type ManualClock, systemClock } from '../src/core/clock.ts';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory } from './support/open.ts';

interface View {
  attributes: Record<string, unknown>;
  eventCount: number;
  groups: string[];
  identities: { userIds: string[]; anonymousIds: string[] };
}

describe('official SDKs against the server', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let host: string;
  const requests: Array<{ method: string; url: string; encoding: string | undefined; auth: string | undefined; status: number }> = [];

  before(async () => {
    // Events carry real client time; a wall-clock engine keeps "now" consistent with them.
    ({ p } = await openMemory({}, systemClock as ManualClock));
    write = (await p.keys.create('default', ['write'])).key;
    app = buildServer(p);
    app.addHook('onResponse', async (req, reply) => {
      requests.push({ method: req.method, url: req.url, encoding: req.headers['content-encoding'], auth: req.headers.authorization?.split(' ')[0], status: reply.statusCode });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    assert.ok(addr !== null && typeof addr === 'object', 'addr !== null && typeof addr === \'object\'');
    host = `http://127.0.0.1:${addr.port}`;
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  const profile = async (idType: string, id: string): Promise<View> => {
    const v = await p.profile(idType, id);
    assert.ok(v, `no profile for ${idType} ${id}`);
    return v as unknown as View;
  };

  it('@segment/analytics-node: identify, track, alias, group, page', async () => {
    const errors: unknown[] = [];
    const analytics = new Analytics({ writeKey: write, host, flushAt: 1, flushInterval: 10, maxRetries: 0 });
    analytics.on('error', (e) => errors.push(e));
    analytics.track({ anonymousId: 'seg-anon', event: 'Viewed Pricing' });
    analytics.identify({ userId: 'seg-1', anonymousId: 'seg-anon', traits: { plan: 'pro', city: 'Lima' } });
    analytics.track({ userId: 'seg-1', event: 'Order Completed', properties: { price: 42.5 } });
    analytics.track({ userId: 'seg-old', event: 'Legacy Login' });
    analytics.alias({ userId: 'seg-1', previousId: 'seg-old' });
    analytics.group({ userId: 'seg-1', groupId: 'seg-acme', traits: { name: 'Acme' } });
    analytics.page({ userId: 'seg-1', name: 'Home', properties: { path: '/' } });
    await analytics.closeAndFlush({ timeout: 10_000 });
    assert.deepEqual(errors, []);

    const segReqs = requests.filter((r) => r.url.startsWith('/v1/'));
    assert.ok(segReqs.length >= 1, 'segReqs.length >= 1');
    for (const r of segReqs) assert.deepEqual([r.method, r.url, r.auth, r.status], ['POST', '/v1/batch', 'Basic', 200]);

    await p.drain();
    const v = await profile('user_id', 'seg-1');
    assert.equal(v.attributes.plan, 'pro');
    assert.equal(v.attributes.city, 'Lima');
    assert.deepEqual(v.groups, ['seg-acme']);
    assert.equal(v.eventCount, 7);
    assert.deepEqual([...v.identities.userIds].sort(), ['seg-1', 'seg-old']);
    assert.deepEqual(v.identities.anonymousIds, ['seg-anon']);
    // The anonymous id and the aliased id reach the same profile.
    assert.equal((await profile('user_id', 'seg-old')).eventCount, 7);
    assert.equal((await profile('anonymous_id', 'seg-anon')).eventCount, 7);
  });

  it('posthog-node: capture, identify, alias, groupIdentify (gzip, /batch/)', async () => {
    const anon = randomUUID();
    const client = new PostHog(write, { host, flushAt: 1, flushInterval: 0, fetchRetryCount: 0 });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.capture({ distinctId: anon, event: 'Viewed Pricing', properties: { page: 'pricing' } });
    client.identify({ distinctId: 'ph-1', properties: { $set: { plan: 'pro' }, $set_once: { source: 'ad' }, $anon_distinct_id: anon } });
    client.capture({ distinctId: 'ph-1', event: 'Signed Up', properties: { tier: 'free', $set: { city: 'Lima' } } });
    client.capture({ distinctId: 'ph-old', event: 'Legacy Login' });
    client.alias({ distinctId: 'ph-1', alias: 'ph-old' });
    client.groupIdentify({ groupType: 'company', groupKey: 'ph-acme', properties: { name: 'Acme' }, distinctId: 'ph-1' });
    client.capture({ distinctId: 'ph-1', event: 'Report Run', groups: { company: 'ph-acme' } });
    await client.shutdown(10_000);
    assert.deepEqual(errors, []);

    const phReqs = requests.filter((r) => !r.url.startsWith('/v1/'));
    assert.ok(phReqs.length >= 1, 'posthog-node sent nothing');
    for (const r of phReqs) assert.deepEqual([r.method, r.url, r.encoding, r.status], ['POST', '/batch/', 'gzip', 200]);

    await p.drain();
    const v = await profile('user_id', 'ph-1');
    assert.equal(v.attributes.plan, 'pro');
    assert.equal(v.attributes.source, 'ad');
    assert.equal(v.attributes.city, 'Lima');
    assert.deepEqual(v.groups, ['ph-acme']);
    assert.equal(v.eventCount, 7);
    assert.deepEqual([...v.identities.userIds].sort(), ['ph-1', 'ph-old']);
    assert.deepEqual(v.identities.anonymousIds, [anon]);
    assert.equal((await profile('user_id', 'ph-old')).eventCount, 7);
    assert.equal((await profile('anonymous_id', anon)).eventCount, 7);
    const acme = await profile('group_id', 'ph-acme');
    assert.equal(acme.attributes.name, 'Acme');
    assert.equal(acme.eventCount, 2, 'the $groupidentify and the capture sent with groups');
  });

  describe('PostHog capture endpoints', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
    const send = (method: 'GET' | 'POST', url: string, payload?: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });

    it('accepts /capture/, /e/, /i/v0/e/ single events, arrays, base64 data, form bodies, GET ?data=, gzip-js and lz64', async () => {
      const ev = (n: number) => ({ event: 'Shape', distinct_id: 'ph-shapes', uuid: randomUUID(), properties: { n } });
      const cases = [
        send('POST', '/capture/', JSON.stringify({ api_key: write, ...ev(1) })),
        send('POST', '/e/', JSON.stringify([{ ...ev(2), properties: { n: 2, token: write } }])),
        send('POST', '/i/v0/e/', JSON.stringify({ api_key: write, data: b64(ev(3)) })),
        send('POST', '/e/?ver=1', `data=${encodeURIComponent(b64({ api_key: write, batch: [ev(4)] }))}`, { 'content-type': 'application/x-www-form-urlencoded' }),
        send('GET', `/e/?data=${encodeURIComponent(b64({ ...ev(5), properties: { n: 5, token: write } }))}`),
        send('POST', '/i/v0/e/?compression=gzip-js', gzipSync(JSON.stringify({ api_key: write, batch: [ev(6)] })), { 'content-type': 'text/plain' }),
        send('POST', '/batch', JSON.stringify({ api_key: write, batch: [ev(7)] })),
        // posthog-js' older transport: compression=lz64, a form body whose data is LZ-string base64.
        send('POST', '/e/?compression=lz64', `data=${encodeURIComponent(LZString.compressToBase64(JSON.stringify([{ ...ev(8), properties: { n: 8, token: write } }])))}&compression=lz64`, { 'content-type': 'application/x-www-form-urlencoded' }),
      ];
      for (const [i, pending] of cases.entries()) {
        const r = await pending;
        assert.equal(r.statusCode, 200, `case ${i}: ${r.body}`);
        assert.deepEqual(r.json(), { status: 1 });
      }
      await p.drain();
      assert.equal((await profile('user_id', 'ph-shapes')).eventCount, 8);
    });

    it('quarantines invalid events one by one and keeps the valid ones', async () => {
      const before = (await p.quarantined()).length;
      const r = await send('POST', '/batch/', JSON.stringify({ api_key: write, batch: [{ event: 'ok', distinct_id: 'ph-q' }, { event: 'no id' }, { distinct_id: 'ph-q' }] }));
      assert.equal(r.statusCode, 200, r.body);
      await p.drain();
      assert.equal((await p.quarantined()).length, before + 2);
      assert.equal((await profile('user_id', 'ph-q')).eventCount, 1);
    });

    it('authenticates api_key like a write key', async () => {
      const { key: readOnly } = await p.keys.create('default', ['read']);
      const cases: Array<[string, unknown, number, string]> = [
        ['no key', { batch: [{ event: 'e', distinct_id: 'x' }] }, 401, 'PORTRAIT_AUTH_MISSING'],
        ['wrong key', { api_key: 'abc.def', batch: [{ event: 'e', distinct_id: 'x' }] }, 401, 'PORTRAIT_AUTH_INVALID'],
        ['read-only key', { api_key: readOnly, batch: [{ event: 'e', distinct_id: 'x' }] }, 403, 'PORTRAIT_AUTH_SCOPE'],
        ['no events', { api_key: write, foo: 1 }, 400, 'PORTRAIT_EVENT_INVALID'],
        ['no events, no key', { foo: 1 }, 401, 'PORTRAIT_AUTH_MISSING'],
      ];
      for (const [name, body, status, code] of cases) {
        const r = await send('POST', '/batch/', JSON.stringify(body));
        assert.equal(r.statusCode, status, `${name}: ${r.body}`);
        assert.equal((r.json() as { error: { code: string } }).error.code, code, name);
      }
    });
  });
});
