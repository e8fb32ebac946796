import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are read field by field

describe('HTTP API: profile search', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let read: string;
  let write: string;
  let other: string;

  const search = (key: string | undefined, payload: unknown): Promise<LightMyRequestResponse> =>
    app.inject({
      method: 'POST',
      url: '/v1/profiles/search',
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
  const get = (url: string, key = read) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  const userIds = (r: LightMyRequestResponse) => (r.json() as Json).items.map((v: Json) => v.identities.userIds[0]);

  before(async () => {
    ({ p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }] }));
    read = (await p.keys.create('default', ['read'])).key;
    write = (await p.keys.create('default', ['write'])).key;
    other = (await p.keys.create('other', ['read'])).key;
    app = buildServer(p);
    await p.ingest([
      { type: 'identify', userId: 'ann', traits: { city: 'Lima', age: 31 }, timestamp: T0 },
      { type: 'identify', userId: 'bob', traits: { city: 'Oslo', age: 45 }, timestamp: T0 },
      { type: 'identify', userId: 'cy', traits: { city: 'Lima', age: 22 }, timestamp: T0 },
      ...[1, 2, 3].map((i) => ({ type: 'track', userId: 'cy', event: 'Order Completed', timestamp: T0 + i })),
      { type: 'track', userId: 'ann', event: 'Order Completed', timestamp: T0 + 9 },
    ]);
    await p.ingest([{ type: 'identify', userId: 'zed', traits: { city: 'Lima' }, timestamp: T0 }], { workspace: 'other' });
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('POST /v1/profiles/search filters, sorts and pages', async () => {
    const body = { where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }], sort: { field: 'traits.orders', order: 'desc' }, limit: 1 };
    const r = await search(read, body);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(userIds(r), ['cy'], 'most orders first');
    assert.equal((r.json() as Json).total, 2, 'total of matches');
    const next = await search(read, { ...body, cursor: (r.json() as Json).next });
    assert.deepEqual(userIds(next), ['ann'], 'the cursor continues');
    assert.equal((next.json() as Json).next, undefined, 'last page has no cursor');
  });

  it('GET /v1/profiles?where=… is the same search in the query string', async () => {
    const where = encodeURIComponent(JSON.stringify([{ field: 'attributes.age', op: 'gt', value: 30 }]));
    const r = await get(`/v1/profiles?where=${where}&sort=-attributes.age&limit=10`);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(userIds(r), ['bob', 'ann'], 'age over 30, oldest first');
    const bad = await get('/v1/profiles?where=%5Bnot-json');
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match((bad.json() as Json).error.message, /\/where: is not JSON/, 'says which parameter is broken');
    const badLimit = await get('/v1/profiles?limit=ten');
    assert.equal(badLimit.statusCode, 400, badLimit.body);
    assert.equal((badLimit.json() as Json).error.problems[0].path, '/limit', 'points at limit');
  });

  it('answers an invalid query with 400 and every problem', async () => {
    const r = await search(read, { where: [{ field: 'segments.vip', op: 'eq', value: true }, { field: 'attributes.age', op: 'between', value: [1, 2] }], limit: 5000 });
    assert.equal(r.statusCode, 400, r.body);
    const e = (r.json() as Json).error;
    assert.equal(e.code, 'PORTRAIT_SEARCH_INVALID', 'stable code');
    const paths = e.problems.map((x: Json) => x.path).sort();
    assert.deepEqual(paths, ['/limit', '/where/1/op'], 'shape problems are reported first, each with its path');
    const seg = await search(read, { where: [{ field: 'segments.vip', op: 'eq', value: true }] });
    assert.equal(seg.statusCode, 400, seg.body);
    assert.match(JSON.stringify((seg.json() as Json).error.problems), /no segment is named/, 'an unknown segment is refused');
  });

  it('needs the read scope and stays in the key’s workspace', async () => {
    assert.equal((await search(undefined, {})).statusCode, 401, 'no key');
    const w = await search(write, {});
    assert.equal(w.statusCode, 403, w.body);
    assert.equal((w.json() as Json).error.code, 'PORTRAIT_AUTH_SCOPE', 'a write key cannot read');
    const lima = { where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }] };
    assert.deepEqual(userIds(await search(other, lima)), ['zed'], 'the other workspace sees only its profile');
    assert.deepEqual(userIds(await search(read, lima)).sort(), ['ann', 'cy'], 'and the default one only its own');
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Json;
    const post = doc.paths['/v1/profiles/search']?.post;
    assert.ok(post, 'POST /v1/profiles/search is documented');
    assert.ok(post.requestBody.content['application/json'].schema.properties.where, 'with its body schema');
    assert.ok(doc.paths['/v1/profiles']?.get, 'GET /v1/profiles is documented');
  });
});
