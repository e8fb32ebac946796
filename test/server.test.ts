import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory, T0 } from './support/open.ts';

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

describe('HTTP API', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let secret: string;
  let otherSecret: string;

  before(async () => {
    ({ p } = await openMemory());
    write = (await p.keys.create('default', ['write'])).key;
    secret = (await p.keys.create('default', ['write', 'read', 'admin'])).key;
    otherSecret = (await p.keys.create('other', ['write', 'read'])).key;
    app = buildServer(p, { maxMessageBytes: 2048, maxBatchBytes: 8192 });
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = { authorization: basic(write) }) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload) });
  const profile = async (idType: string, id: string, key = secret, query = '') =>
    app.inject({ method: 'GET', url: `/v1/profiles/${idType}/${encodeURIComponent(id)}${query}`, headers: { authorization: `Bearer ${key}` } });

  it('accepts each Segment call with HTTP Basic (write key, empty password) and answers {"success":true}', async () => {
    for (const [type, body] of [
      ['identify', { userId: 'ann', traits: { city: 'Lima' }, timestamp: T0 }],
      ['track', { userId: 'ann', event: 'Order Completed', properties: { price: 5 }, timestamp: T0 }],
      ['page', { userId: 'ann', name: 'Home', timestamp: T0 }],
      ['screen', { userId: 'ann', name: 'Main', timestamp: T0 }],
      ['group', { userId: 'ann', groupId: 'acme', traits: { plan: 'pro' }, timestamp: T0 }],
      ['alias', { userId: 'ann', previousId: 'ann-old', timestamp: T0 }],
    ] as const) {
      const r = await post(`/v1/${type}`, body);
      assert.equal(r.statusCode, 200, `${type}: ${r.body}`);
      assert.deepEqual(r.json(), { success: true });
    }
    await p.drain();
    const r = await profile('user_id', 'ann-old');
    assert.equal(r.statusCode, 200);
    const view = r.json() as { attributes: { city: string }; eventCount: number; groups: string[] };
    assert.equal(view.attributes.city, 'Lima');
    assert.equal(view.eventCount, 6);
    assert.deepEqual(view.groups, ['acme']);
  });

  it('accepts a Bearer token and a writeKey in a batch body', async () => {
    assert.equal((await post('/v1/track', { userId: 'bo', event: 'x' }, { authorization: `Bearer ${write}` })).statusCode, 200);
    assert.equal((await post('/v1/batch', { writeKey: write, batch: [{ type: 'track', userId: 'bo', event: 'y' }] }, {})).statusCode, 200);
  });

  it('keeps the valid messages of a batch and quarantines the invalid ones one by one', async () => {
    const r = await post('/v1/batch', { batch: [{ type: 'track', userId: 'cy', event: 'ok' }, { type: 'track', event: 'no ids' }, { type: 'nonsense', userId: 'cy' }] });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { success: true, accepted: 1, duplicates: 0, quarantined: 2 });
    assert.ok((await p.quarantined()).length >= 2, '(await p.quarantined()).length >= 2');
  });

  it('reads gzip and deflate bodies, whatever the content type says', async () => {
    const body = JSON.stringify({ batch: [{ type: 'track', userId: 'dee', event: 'gz' }] });
    const gz = await post('/v1/batch', gzipSync(body), { authorization: basic(write), 'content-encoding': 'gzip', 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(gz.statusCode, 200, gz.body);
    const df = await post('/v1/track', deflateSync(JSON.stringify({ userId: 'dee', event: 'df' })), { authorization: basic(write), 'content-encoding': 'deflate' });
    assert.equal(df.statusCode, 200, df.body);
    // A body just under the limit once decompressed is read whole.
    const big = JSON.stringify({ batch: [{ type: 'track', userId: 'dee', event: 'big', properties: { blob: 'x'.repeat(1500) } }] });
    const full = await post('/v1/batch', gzipSync(big.padEnd(8192, ' ')), { authorization: basic(write), 'content-encoding': 'gzip' });
    assert.equal(full.statusCode, 200, full.body);
    assert.equal((full.json() as { accepted: number }).accepted, 1);
    const over = await post('/v1/batch', gzipSync(big.padEnd(8193, ' ')), { authorization: basic(write), 'content-encoding': 'gzip' });
    assert.equal(over.statusCode, 413, 'one byte more is refused');
  });

  it('answers bad input with the right 4xx and a clear code', async () => {
    const cases: Array<[string, Promise<{ statusCode: number; json(): unknown }>, number, string]> = [
      ['no key', post('/v1/track', { userId: 'x', event: 'e' }, {}), 401, 'PORTRAIT_AUTH_MISSING'],
      ['wrong key', post('/v1/track', { userId: 'x', event: 'e' }, { authorization: basic('abc.def') }), 401, 'PORTRAIT_AUTH_INVALID'],
      ['write key reading', profile('user_id', 'ann', write), 403, 'PORTRAIT_AUTH_SCOPE'],
      ['invalid JSON', post('/v1/track', '{"userId": ', { authorization: basic(write) }), 400, 'PORTRAIT_EVENT_NOT_JSON'],
      ['broken gzip', post('/v1/track', Buffer.from('not gzip'), { authorization: basic(write), 'content-encoding': 'gzip' }), 400, 'PORTRAIT_HTTP_BAD_ENCODING'],
      ['truncated gzip', post('/v1/track', gzipSync(JSON.stringify({ userId: 'x', event: 'e' })).subarray(0, 20), { authorization: basic(write), 'content-encoding': 'gzip' }), 400, 'PORTRAIT_HTTP_BAD_ENCODING'],
      ['broken deflate', post('/v1/track', Buffer.from('not deflate'), { authorization: basic(write), 'content-encoding': 'deflate' }), 400, 'PORTRAIT_HTTP_BAD_ENCODING'],
      ['gzip over the limit once decompressed', post('/v1/batch', gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'x', event: 'e', properties: { blob: 'x'.repeat(50_000) } }] })), { authorization: basic(write), 'content-encoding': 'gzip' }), 413, 'PORTRAIT_HTTP_BODY_TOO_LARGE'],
      ['deflate over the limit once decompressed', post('/v1/track', deflateSync(JSON.stringify({ userId: 'x', event: 'e', properties: { blob: 'x'.repeat(50_000) } })), { authorization: basic(write), 'content-encoding': 'deflate' }), 413, 'PORTRAIT_HTTP_BODY_TOO_LARGE'],
      ['missing ids', post('/v1/track', { event: 'e' }), 400, 'PORTRAIT_EVENT_INVALID'],
      ['wrong types', post('/v1/track', { userId: 'x', event: 42, properties: 'nope' }), 400, 'PORTRAIT_EVENT_INVALID'],
      ['message over the limit', post('/v1/track', { userId: 'x', event: 'e', properties: { blob: 'x'.repeat(3000) } }), 413, 'PORTRAIT_HTTP_MESSAGE_TOO_LARGE'],
      ['batch over the limit', post('/v1/batch', { batch: Array.from({ length: 20 }, () => ({ type: 'track', userId: 'x', event: 'e', properties: { blob: 'x'.repeat(500) } })) }), 413, 'PORTRAIT_HTTP_BODY_TOO_LARGE'],
      ['batch envelope', post('/v1/batch', { batch: 'nope' }), 400, 'PORTRAIT_EVENT_INVALID'],
      ['unknown route', post('/v1/nothing', {}), 404, 'PORTRAIT_HTTP_NOT_FOUND'],
      ['unknown id type', profile('phone', '1'), 400, 'PORTRAIT_IDENTITY_UNKNOWN_TYPE'],
      ['bad time', profile('user_id', 'ann', secret, '?at=yesterday'), 400, 'PORTRAIT_HTTP_BAD_TIME'],
      ['unknown profile', profile('user_id', 'nobody'), 404, 'PORTRAIT_PROFILE_NOT_FOUND'],
    ];
    for (const [name, pending, status, code] of cases) {
      const r = await pending;
      assert.equal(r.statusCode, status, name);
      assert.equal((r.json() as { error: { code: string } }).error.code, code, name);
    }
  });

  it('never lets a key reach another workspace’s profiles', async () => {
    await p.drain();
    assert.equal((await profile('user_id', 'ann')).statusCode, 200);
    assert.equal((await profile('user_id', 'ann', otherSecret)).statusCode, 404);
  });

  it('serves the profile as of a past time', async () => {
    await post('/v1/identify', { userId: 'eve', traits: { city: 'Oslo' }, timestamp: T0 });
    await post('/v1/identify', { userId: 'eve', traits: { city: 'Pune' }, timestamp: T0 + 60_000 });
    await p.drain();
    const past = (await profile('user_id', 'eve', secret, `?at=${new Date(T0 + 1000).toISOString()}`)).json() as { attributes: { city: string } };
    assert.equal(past.attributes.city, 'Oslo');
  });

  it('reports health and readiness', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });

  it('never answers 5xx to arbitrary bodies (fuzz)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('track', 'identify', 'alias', 'group', 'page', 'screen', 'batch'), fc.oneof(fc.jsonValue(), fc.string()), async (type, body) => {
        const r = await post(`/v1/${type}`, typeof body === 'string' ? body : JSON.stringify(body));
        assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
      }),
      { numRuns: 150 },
    );
  });
});

describe('HTTP API backpressure', () => {
  it('answers 429 with Retry-After while the engine lags beyond the bound', async () => {
    const { p } = await openMemory({ engine: { commitIntervalMs: 60_000 } });
    const { key } = await p.keys.create('default', ['write']);
    const app = buildServer(p, { maxLag: 0 });
    try {
      await p.ingest([{ type: 'track', userId: 'u', event: 'e' }]);
      const r = await app.inject({ method: 'POST', url: '/v1/track', headers: { authorization: basic(key), 'content-type': 'application/json' }, payload: JSON.stringify({ userId: 'u', event: 'e' }) });
      assert.equal(r.statusCode, 429);
      assert.ok(r.headers['retry-after'], 'r.headers[\'retry-after\']');
      assert.equal((r.json() as { error: { code: string } }).error.code, 'PORTRAIT_HTTP_BUSY');
    } finally {
      await app.close();
      await p.close();
    }
  });
});

describe('HTTP API operations', () => {
  it('starts ingest requests one per turn of the event loop: a scrape sent with them sees them wait, and each is served', async () => {
    const { p } = await openMemory({ engine: { commitIntervalMs: 0 } });
    const { key } = await p.keys.create('default', ['write']);
    const app = buildServer(p);
    try {
      const send = (i: number) => app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: basic(key), 'content-type': 'application/json' }, payload: JSON.stringify({ batch: [{ type: 'track', userId: `w${i}`, event: 'e', messageId: `w${i}` }] }) });
      const together = [1, 2, 3, 4].map(send);
      const scraped = await app.inject({ method: 'GET', url: '/metrics' });
      const answers = await Promise.all(together);
      assert.ok(answers.every((r) => r.statusCode === 200 && (r.json() as { accepted: number }).accepted === 1), 'every waiting request is served');
      const waiting = Number(/^portrait_ingest_waiting_requests (\S+)$/m.exec(scraped.body)?.[1]);
      assert.ok(waiting >= 1 && waiting <= 4, `the scrape saw ingest requests waiting (${waiting})`);
      await p.drain();
      assert.equal(await p.profileCount(), 4);
    } finally {
      await app.close();
      await p.close();
    }
  });

  it('exposes Prometheus metrics: messages by outcome, lag, processing latency, profiles', async () => {
    const { p } = await openMemory({ engine: { commitIntervalMs: 0 } });
    const { key } = await p.keys.create('default', ['write']);
    const app = buildServer(p);
    try {
      const send = (body: unknown) => app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: basic(key), 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      await send({ batch: [{ type: 'track', userId: 'm1', event: 'e', messageId: 'x1' }, { type: 'track', userId: 'm2', event: 'e', messageId: 'x2' }, { type: 'track', event: 'no ids' }] });
      await send({ batch: [{ type: 'track', userId: 'm1', event: 'e', messageId: 'x1' }] });
      await p.drain();
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      assert.equal(value('portrait_events_received_total'), 4);
      assert.equal(value('portrait_events_accepted_total'), 2);
      assert.equal(value('portrait_events_rejected_total'), 1);
      assert.equal(value('portrait_events_duplicate_total'), 1);
      assert.equal(value('portrait_engine_lag_records'), 0);
      assert.equal(value('portrait_ingest_waiting_requests'), 0, 'no ingest request waits once all are answered');
      assert.equal(value('portrait_profiles'), 2);
      assert.ok(value('portrait_processing_latency_seconds_count') >= 1, text);
      assert.ok(value('portrait_process_cpu_user_seconds_total') > 0, 'the process metrics carry the one prefix');
      assert.doesNotMatch(text, /portrait_process_process_/, 'and not twice');
      assert.doesNotMatch(text, /^portrait_destination_pending_deliveries\{/m, 'no destination, no series');

      // A paused destination: what waits for it shows per destination.
      await p.destinations.create('default', { id: 'crm', url: 'http://127.0.0.1:9/hook', kinds: ['profile.updated', 'segment.entered'], enabled: false });
      await p.destinations.create('default', { id: 'live', url: 'http://127.0.0.1:9/hook', kinds: ['segment.entered'] });
      await p.segments.put('segment', { name: 'all', condition: 'event_count >= 1' });
      await p.drain();
      const later = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const series = (name: string, destination: string) => Number(new RegExp(`^${name}\\{workspace="default",destination="${destination}"\\} (\\S+)$`, 'm').exec(later)?.[1]);
      assert.equal(series('portrait_destination_enabled', 'crm'), 0, later);
      assert.equal(series('portrait_destination_enabled', 'live'), 1);
      assert.equal(series('portrait_destination_undispatched_notifications', 'crm'), 2, 'the two entries into the new segment wait for the paused one');
      assert.equal(series('portrait_destination_pending_deliveries', 'crm'), 0);
      assert.equal(series('portrait_destination_dead_letters', 'crm'), 0);
      assert.ok(series('portrait_destination_oldest_pending_seconds', 'live') >= 0, 'the oldest wait, in seconds');
    } finally {
      await app.close();
      await p.close();
    }
  });

  it('serves an OpenAPI 3 document generated from the routes, and a page rendering it', async () => {
    const { p } = await openMemory();
    const app = buildServer(p);
    try {
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { openapi: string; paths: Record<string, unknown> };
      assert.match(doc.openapi, /^3\./);
      for (const path of ['/v1/track', '/v1/batch', '/v1/profiles/{idType}/{id}', '/metrics']) assert.ok(path in doc.paths, path);
      const page = await app.inject({ method: 'GET', url: '/docs/' });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<html/i);
    } finally {
      await app.close();
      await p.close();
    }
  });
});
