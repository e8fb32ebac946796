/**
 * Injection strings in every identifier, path parameter and search filter:
 * each answer is a clean 4xx/404 or an exact (possibly empty) result, never a
 * 500 and never another profile's data, and the database is intact afterwards.
 * (All SQL is parameterised; this checks it from the outside.)
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory } from './support/open.ts';

const NASTY = [`' OR 1=1 --`, `"; DROP TABLE profiles; --`, '%', '_', '\u0000', 'a\u0000b', 'ü🙂\u202Eevil', '../../etc/passwd', `') UNION SELECT doc FROM profiles --`, '$.attributes', '*', '\\'];

const PATHS = [
  '/v1/profiles/{t}/{x}',
  '/v1/profiles/{t}/{x}/events',
  '/v1/profiles/{t}/{x}/history',
  '/v1/profiles/{t}/{x}/merges',
  '/v1/profiles/{t}/{x}/links',
  '/v1/profiles/{t}/{x}/conflicts',
  '/v1/profiles/{t}/{x}/memberships',
  '/v1/quarantine/{x}',
  '/v1/traits/{x}',
  '/v1/segments/{x}',
  '/v1/segments/{x}/members',
  '/v1/segments/{x}/sizes',
  '/v1/segments/{x}/export',
  '/v1/segments/{x}/explain/{t}/{x}',
  '/v1/tags/{x}',
  '/v1/tags/{x}/members',
  '/v1/tags/{x}/explain/{t}/{x}',
  '/v1/destinations/{x}',
  '/v1/destinations/{x}/deliveries',
  '/v1/destinations/{x}/dead-letters',
];

describe('injection strings', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let key: string;
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });

  before(async () => {
    ({ p } = await openMemory({ server: { rateLimit: { perSecond: 100_000 } } }));
    key = (await p.keys.create('default', ['write', 'read', 'pii', 'admin', 'privacy'])).key;
    app = buildServer(p);
    await p.ingest([
      { type: 'identify', userId: 'u1', traits: { city: 'Lima', email: 'ann@example.com' } },
      { type: 'identify', userId: 'u2', traits: { city: 'Quito' } },
    ]);
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('as identifiers and attribute values, they are stored and found as plain data, matching nothing else', async () => {
    for (const [i, s] of NASTY.entries()) {
      const r = await call('POST', '/v1/identify', { userId: `x${i}${s}`, anonymousId: s, traits: { city: s, [s]: 1 } });
      assert.ok(r.statusCode === 200 || r.statusCode === 400, `identify with ${JSON.stringify(s)}: ${r.statusCode} ${r.body}`);
    }
    await p.drain();
    for (const [i, s] of NASTY.entries()) {
      const r = await call('GET', `/v1/profiles/user_id/${encodeURIComponent(`x${i}${s}`)}`);
      assert.ok([200, 400, 404].includes(r.statusCode), `lookup of ${JSON.stringify(s)}: ${r.statusCode}`);
      if (r.statusCode === 200) {
        const view = r.json() as { identities: { userIds: string[] } };
        assert.deepEqual(view.identities.userIds, [`x${i}${s}`], `the lookup of ${JSON.stringify(s)} finds exactly that profile`);
      }
      // A wildcard or quote as an id never reaches u1 or u2.
      const bare = await call('GET', `/v1/profiles/user_id/${encodeURIComponent(s)}`);
      assert.ok([400, 404].includes(bare.statusCode), `${JSON.stringify(s)} as a user id matches no profile: ${bare.statusCode}`);
    }
  });

  it('in every path parameter, answers are clean 2xx/4xx without another profile', async () => {
    for (const s of NASTY) {
      for (const path of PATHS) {
        for (const t of ['user_id', s]) {
          const url = path.replaceAll('{t}', encodeURIComponent(t)).replaceAll('{x}', encodeURIComponent(s));
          for (const method of ['GET', 'DELETE'] as const) {
            if (method === 'DELETE' && !/^\/v1\/(traits|segments|tags|destinations)\/[^/]+$/.test(url)) continue;
            const r = await call(method, url);
            assert.ok(r.statusCode < 500, `${method} ${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
            assert.ok(!r.body.includes('ann@example.com') && !r.body.includes('Quito'), `${method} ${url} shows no other profile`);
          }
        }
      }
    }
  });

  it('in search filters, sorts and cursors, answers are 400 or exact matches', async () => {
    for (const s of NASTY) {
      const cases: unknown[] = [
        { where: [{ field: 'attributes.city', op: 'eq', value: s }] },
        { where: [{ field: `attributes.${s}`, op: 'exists' }] },
        { where: [{ field: 'attributes.city', op: 'in', value: [s, `${s}%`] }] },
        { where: [{ field: 'attributes.city', op: 'contains', value: s }] },
        { where: [{ field: 'attributes.city', op: s, value: 'Lima' }] },
        { where: [{ field: s, op: 'eq', value: 'Lima' }] },
        { sort: { field: s, order: 'asc' } },
        { cursor: s },
      ];
      for (const body of cases) {
        const r = await call('POST', '/v1/profiles/search', body);
        assert.ok(r.statusCode === 200 || r.statusCode === 400, `search ${JSON.stringify(body)}: ${r.statusCode} ${r.body.slice(0, 200)}`);
        if (r.statusCode === 200) {
          const items = (r.json() as { items: Array<{ attributes: Record<string, unknown> }> }).items;
          for (const it of items) assert.ok(it.attributes.city !== 'Lima' && it.attributes.city !== 'Quito', `search ${JSON.stringify(body)} matches only the injected data`);
        }
      }
      const q = await call('GET', `/v1/profiles?where=${encodeURIComponent(JSON.stringify([{ field: 'attributes.city', op: 'eq', value: s }]))}&sort=${encodeURIComponent(s)}`);
      assert.ok(q.statusCode === 200 || q.statusCode === 400, `query-string search: ${q.statusCode}`);
      const audit = await call('GET', `/v1/audit?keyId=${encodeURIComponent(s)}&route=${encodeURIComponent(s)}`);
      assert.equal(audit.statusCode, 200, `audit filters: ${audit.body.slice(0, 200)}`);
      assert.deepEqual((audit.json() as { items: unknown[] }).items, [], 'audit filters match nothing');
    }
  });

  it('leaves the database intact', async () => {
    assert.equal((await p.profile('user_id', 'u1'))?.attributes.city, 'Lima', 'u1 is intact');
    assert.equal((await p.profile('user_id', 'u2'))?.attributes.city, 'Quito', 'u2 is intact');
    const found = await p.searchProfiles({ where: [{ field: 'attributes.city', op: 'in', value: ['Lima', 'Quito'] }] });
    assert.equal(found.total, 2, 'search still works on the profiles table');
    assert.ok((await p.stateDump()).some((l) => l.startsWith('profile ')), 'every table can be read');
  });
});
