import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory, T0 } from './support/open.ts';

const EMAIL = 'ann.lee@example.com';
const PHONE = '+1 555 010 9876';
const OLD = 'ann.old@example.com';

describe('masking personal data in API answers', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let read: string;
  let pii: string;
  let quarantineId = 0;

  const get = (url: string, key: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  const post = (url: string, key: string, payload: unknown) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` }, payload: payload as object });

  before(async () => {
    ({ p } = await openMemory());
    read = (await p.keys.create('default', ['read'])).key;
    pii = (await p.keys.create('default', ['read', 'pii'])).key;
    app = buildServer(p);
    const r = await p.ingest([
      { type: 'identify', userId: 'u1', traits: { email: EMAIL, phone: PHONE, city: 'Lima' }, timestamp: new Date(T0).toISOString() },
      { type: 'identify', userId: 'u1', traits: { email: OLD }, timestamp: new Date(T0 - 86_400_000).toISOString() },
      { type: 'track', userId: 'u1', event: 'Order Completed', properties: { email: EMAIL, price: 3 }, context: { traits: { phone: PHONE } } },
      // Invalid (no event name): quarantined with its raw payload.
      { type: 'track', userId: 'u1', properties: { email: EMAIL } },
    ]);
    quarantineId = r.outcomes.find((o) => o.status === 'quarantined')!.quarantineId!;
    await p.drain();
    await p.segments.put('segment', { name: 'has_email', condition: { op: 'exists', ref: 'attributes.email' } });
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  const answers = async (key: string): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const url of [
      '/v1/profiles/user_id/u1',
      '/v1/profiles/user_id/u1/history',
      '/v1/profiles/user_id/u1/conflicts',
      '/v1/profiles/user_id/u1/events',
      '/v1/profiles?where=[{"field":"attributes.city","op":"eq","value":"Lima"}]',
      '/v1/segments/has_email/export?format=ndjson&fields=email,phone,city',
      '/v1/segments/has_email/explain/user_id/u1',
      '/v1/quarantine',
      `/v1/quarantine/${quarantineId}`,
    ]) {
      const r = await get(url, key);
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      out[url] = r.body;
    }
    const s = await post('/v1/profiles/search', key, { where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }] });
    assert.equal(s.statusCode, 200, s.body);
    out['POST /v1/profiles/search'] = s.body;
    return out;
  };

  it('a read key sees masked values on every route that returns personal data', async () => {
    for (const [route, body] of Object.entries(await answers(read))) {
      for (const secret of [EMAIL, OLD, PHONE, 'ann.lee', 'ann.old', '555 010']) assert.ok(!body.includes(secret), `${route} does not show "${secret}"`);
    }
    const view = (await get('/v1/profiles/user_id/u1', read)).json() as { attributes: Record<string, string> };
    assert.deepEqual(view.attributes, { city: 'Lima', email: 'a***@example.com', phone: '***9876' }, 'the documented masks; other attributes as they are');
  });

  it('a key with the pii scope sees the values', async () => {
    const all = await answers(pii);
    for (const route of ['/v1/profiles/user_id/u1', '/v1/profiles/user_id/u1/events', 'POST /v1/profiles/search', '/v1/segments/has_email/export?format=ndjson&fields=email,phone,city', `/v1/quarantine/${quarantineId}`]) {
      assert.ok(all[route]!.includes(EMAIL), `${route} shows the email to a pii key`);
    }
    assert.ok(all['/v1/profiles/user_id/u1/conflicts']!.includes(OLD), 'conflicts show the rejected value to a pii key');
    assert.ok(all['/v1/profiles/user_id/u1/history']!.includes(EMAIL), 'history shows the value to a pii key');
  });

  it('a pii scope alone does not grant reading', async () => {
    const only = (await p.keys.create('default', ['pii'])).key;
    assert.equal((await get('/v1/profiles/user_id/u1', only)).statusCode, 403, 'pii without read is refused');
  });

  it('keys create refuses an unknown scope with a clear error', async () => {
    await assert.rejects(p.keys.create('default', ['read', 'superuser']), (e: { code?: string; message: string }) => e.code === 'PORTRAIT_KEY_INVALID_SCOPE' && /superuser/.test(e.message) && /privacy/.test(e.message), 'names the bad scope and the valid ones');
  });
});
