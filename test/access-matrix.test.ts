/**
 * Every registered route, called with a key of each scope, with no key and
 * with another workspace's key. The route list comes from Fastify itself: a
 * new route without an entry below fails this test.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { openMemory } from './support/open.ts';

type Scope = 'none' | 'write' | 'read' | 'admin' | 'privacy';

interface Entry {
  scope: Scope;
  url: string;
  payload?: unknown;
  /** Statuses when the key may call the route (2xx, or a 4xx the request itself causes). */
  ok: number[];
  /**
   * Statuses for another workspace's key holding every scope. Routes on one
   * profile or resource of the first workspace answer 404; workspace lists
   * answer 200 (with that workspace's own data); definitions are instance-wide.
   */
  foreign?: number[];
}

const track = { userId: 'u9', event: 'Signed Up' };
const CAPTURE = Buffer.from(JSON.stringify({ event: 'x', distinct_id: 'd1' })).toString('base64');
// Keyed by "METHOD /pattern". HEAD routes answer as their GET does and are checked through it.
const ROUTES: Record<string, Entry> = {
  'GET /docs': { scope: 'none', url: '/docs', ok: [200, 302] },
  'GET /docs/static/index.html': { scope: 'none', url: '/docs/static/index.html', ok: [200, 302] },
  'GET /docs/static/swagger-initializer.js': { scope: 'none', url: '/docs/static/swagger-initializer.js', ok: [200] },
  'GET /docs/json': { scope: 'none', url: '/docs/json', ok: [200] },
  'GET /docs/yaml': { scope: 'none', url: '/docs/yaml', ok: [200] },
  'GET /docs/static/*': { scope: 'none', url: '/docs/static/index.css', ok: [200, 404] },
  'GET /openapi.json': { scope: 'none', url: '/openapi.json', ok: [200] },
  'GET /healthz': { scope: 'none', url: '/healthz', ok: [200] },
  'GET /readyz': { scope: 'none', url: '/readyz', ok: [200] },
  'GET /metrics': { scope: 'none', url: '/metrics', ok: [200] },
  'POST /v1/track': { scope: 'write', url: '/v1/track', payload: track, ok: [200] },
  'POST /v1/identify': { scope: 'write', url: '/v1/identify', payload: { userId: 'u9', traits: { plan: 'pro' } }, ok: [200] },
  'POST /v1/alias': { scope: 'write', url: '/v1/alias', payload: { userId: 'u9', previousId: 'a9' }, ok: [200] },
  'POST /v1/group': { scope: 'write', url: '/v1/group', payload: { userId: 'u9', groupId: 'g9' }, ok: [200] },
  'POST /v1/page': { scope: 'write', url: '/v1/page', payload: { userId: 'u9', name: 'Home' }, ok: [200] },
  'POST /v1/screen': { scope: 'write', url: '/v1/screen', payload: { userId: 'u9', name: 'Home' }, ok: [200] },
  'POST /v1/batch': { scope: 'write', url: '/v1/batch', payload: { batch: [{ type: 'track', ...track }] }, ok: [200] },
  'GET /v1/profiles/:idType/:id': { scope: 'read', url: '/v1/profiles/user_id/u1', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/events': { scope: 'read', url: '/v1/profiles/user_id/u1/events', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/history': { scope: 'read', url: '/v1/profiles/user_id/u1/history', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/merges': { scope: 'read', url: '/v1/profiles/user_id/u1/merges', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/links': { scope: 'read', url: '/v1/profiles/user_id/u1/links', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/conflicts': { scope: 'read', url: '/v1/profiles/user_id/u1/conflicts', ok: [200], foreign: [404] },
  'GET /v1/profiles/:idType/:id/memberships': { scope: 'read', url: '/v1/profiles/user_id/u1/memberships', ok: [200], foreign: [404] },
  'POST /v1/profiles/search': { scope: 'read', url: '/v1/profiles/search', payload: { where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }] }, ok: [200] },
  'GET /v1/profiles': { scope: 'read', url: '/v1/profiles?limit=5', ok: [200] },
  'GET /v1/identity/conflicts': { scope: 'read', url: '/v1/identity/conflicts', ok: [200] },
  'POST /v1/identity/unmerge': { scope: 'admin', url: '/v1/identity/unmerge', payload: { a: 'user:nobody', b: 'anon:nobody' }, ok: [400, 404, 409] },
  'GET /v1/quarantine': { scope: 'read', url: '/v1/quarantine', ok: [200] },
  'GET /v1/quarantine/:id': { scope: 'read', url: '/v1/quarantine/{q}', ok: [200], foreign: [404] },
  'POST /v1/quarantine/:id/resubmit': { scope: 'admin', url: '/v1/quarantine/{q}/resubmit', payload: {}, ok: [200, 404], foreign: [404] },
  'GET /v1/traits': { scope: 'read', url: '/v1/traits', ok: [200] },
  'POST /v1/traits/validate': { scope: 'read', url: '/v1/traits/validate', payload: { name: 'n', kind: 'count' }, ok: [200, 400] },
  'POST /v1/traits': { scope: 'admin', url: '/v1/traits', payload: { name: 'logins', kind: 'count', filter: { event: 'Logged In' } }, ok: [201, 409] },
  'PUT /v1/traits/:name': { scope: 'admin', url: '/v1/traits/signups', payload: { name: 'signups', kind: 'count', filter: { event: 'Signed Up' } }, ok: [200, 201] },
  'DELETE /v1/traits/:name': { scope: 'admin', url: '/v1/traits/signups', ok: [200, 204, 404] },
  'GET /v1/destinations': { scope: 'admin', url: '/v1/destinations', ok: [200] },
  'POST /v1/destinations': { scope: 'admin', url: '/v1/destinations', payload: { url: 'https://example.com/hook', kinds: ['segment.entered'] }, ok: [201] },
  'GET /v1/destinations/:id': { scope: 'admin', url: '/v1/destinations/crm', ok: [200], foreign: [404] },
  'PATCH /v1/destinations/:id': { scope: 'admin', url: '/v1/destinations/crm', payload: { enabled: true }, ok: [200], foreign: [404] },
  'DELETE /v1/destinations/:id': { scope: 'admin', url: '/v1/destinations/crm', ok: [200, 204], foreign: [404] },
  'GET /v1/destinations/:id/deliveries': { scope: 'read', url: '/v1/destinations/crm/deliveries', ok: [200], foreign: [404] },
  'GET /v1/destinations/:id/dead-letters': { scope: 'read', url: '/v1/destinations/crm/dead-letters', ok: [200], foreign: [404] },
  'POST /v1/destinations/:id/replay': { scope: 'admin', url: '/v1/destinations/crm/replay', payload: {}, ok: [200], foreign: [404] },
  'POST /v1/destinations/:id/dead-letters/:deliveryId/replay': { scope: 'admin', url: '/v1/destinations/crm/dead-letters/999/replay', payload: {}, ok: [404], foreign: [404] },
  'GET /v1/segments/:name/export': { scope: 'read', url: '/v1/segments/cities/export?fields=email', ok: [200] },
  'GET /v1/segments': { scope: 'read', url: '/v1/segments', ok: [200] },
  'POST /v1/segments/validate': { scope: 'read', url: '/v1/segments/validate', payload: { name: 'x', condition: 'attributes.city = "Lima"' }, ok: [200] },
  'GET /v1/segments/:name': { scope: 'read', url: '/v1/segments/cities', ok: [200] },
  'POST /v1/segments': { scope: 'admin', url: '/v1/segments', payload: { name: 'posted', condition: 'attributes.plan = "pro"' }, ok: [201, 409] },
  'PUT /v1/segments/:name': { scope: 'admin', url: '/v1/segments/later', payload: { name: 'later', condition: 'attributes.plan = "pro"' }, ok: [200, 201] },
  'DELETE /v1/segments/:name': { scope: 'admin', url: '/v1/segments/later', ok: [200, 204, 404] },
  'GET /v1/segments/:name/explain/:idType/:id': { scope: 'read', url: '/v1/segments/cities/explain/user_id/u1', ok: [200], foreign: [404] },
  'GET /v1/segments/:name/members': { scope: 'read', url: '/v1/segments/cities/members', ok: [200] },
  'GET /v1/segments/:name/sizes': { scope: 'read', url: '/v1/segments/cities/sizes', ok: [200] },
  'GET /v1/tags/tree': { scope: 'read', url: '/v1/tags/tree', ok: [200] },
  'GET /v1/tags': { scope: 'read', url: '/v1/tags', ok: [200] },
  'POST /v1/tags': { scope: 'admin', url: '/v1/tags', payload: { name: 'posted/tag' }, ok: [201, 409] },
  'POST /v1/tags/validate': { scope: 'read', url: '/v1/tags/validate', payload: { name: 'x', condition: null }, ok: [200, 400] },
  'GET /v1/tags/:name': { scope: 'read', url: '/v1/tags/vip', ok: [200] },
  'PUT /v1/tags/:name': { scope: 'admin', url: '/v1/tags/later', payload: { name: 'later', condition: null }, ok: [200, 201] },
  'DELETE /v1/tags/:name': { scope: 'admin', url: '/v1/tags/later', ok: [200, 204, 404] },
  'GET /v1/tags/:name/explain/:idType/:id': { scope: 'read', url: '/v1/tags/lima/explain/user_id/u1', ok: [200], foreign: [404] },
  'GET /v1/tags/:name/members': { scope: 'read', url: '/v1/tags/vip/members', ok: [200] },
  'PUT /v1/tags/:name/profiles/:idType/:id': { scope: 'write', url: '/v1/tags/vip/profiles/user_id/u1', ok: [200], foreign: [404] },
  'DELETE /v1/tags/:name/profiles/:idType/:id': { scope: 'write', url: '/v1/tags/vip/profiles/user_id/u1', ok: [200], foreign: [404] },
  'GET /v1/audit': { scope: 'admin', url: '/v1/audit', ok: [200] },
  'GET /v1/profiles/:idType/:id/consent': { scope: 'read', url: '/v1/profiles/user_id/u1/consent', ok: [200], foreign: [404] },
  // A consent decision may come before the person's first event: another workspace records it for its own u-consent.
  'PUT /v1/profiles/:idType/:id/consent': { scope: 'write', url: '/v1/profiles/user_id/u-consent/consent', payload: { marketing: true }, ok: [202] },
  'GET /v1/profiles/:idType/:id/scores': { scope: 'read', url: '/v1/profiles/user_id/u1/scores', ok: [200], foreign: [404] },
  'PUT /v1/profiles/:idType/:id/scores': { scope: 'write', url: '/v1/profiles/user_id/u-scores/scores', payload: { churn: 0.5 }, ok: [202] },
  'POST /v1/privacy/erase': { scope: 'privacy', url: '/v1/privacy/erase', payload: { idType: 'user_id', id: 'u-erase' }, ok: [202], foreign: [404] },
  'GET /v1/privacy/erasures': { scope: 'privacy', url: '/v1/privacy/erasures', ok: [200] },
  'GET /v1/privacy/erasures/:id': { scope: 'privacy', url: '/v1/privacy/erasures/{e}', ok: [200], foreign: [404] },
  'GET /v1/privacy/export/:idType/:id': { scope: 'privacy', url: '/v1/privacy/export/user_id/u1', ok: [200], foreign: [404] },
  'GET /v1/privacy/retention': { scope: 'privacy', url: '/v1/privacy/retention', ok: [200] },
  'POST /batch/': { scope: 'write', url: '/batch/', payload: { batch: [{ event: 'x', distinct_id: 'd1' }] }, ok: [200] },
  'POST /capture/': { scope: 'write', url: '/capture/', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'POST /e/': { scope: 'write', url: '/e/', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'GET /e/': { scope: 'write', url: `/e/?data=${CAPTURE}`, ok: [200] },
  'POST /i/v0/e/': { scope: 'write', url: '/i/v0/e/', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'GET /i/v0/e/': { scope: 'write', url: `/i/v0/e/?data=${CAPTURE}`, ok: [200] },
  'POST /batch': { scope: 'write', url: '/batch', payload: { batch: [{ event: 'x', distinct_id: 'd1' }] }, ok: [200] },
  'POST /capture': { scope: 'write', url: '/capture', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'POST /e': { scope: 'write', url: '/e', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'GET /e': { scope: 'write', url: `/e?data=${CAPTURE}`, ok: [200] },
  'POST /i/v0/e': { scope: 'write', url: '/i/v0/e', payload: { event: 'x', distinct_id: 'd1' }, ok: [200] },
  'GET /i/v0/e': { scope: 'write', url: `/i/v0/e?data=${CAPTURE}`, ok: [200] },
};

const KEY_SCOPES: Record<string, string[]> = { write: ['write'], read: ['read'], pii: ['pii'], admin: ['admin'], privacy: ['privacy'] };

describe('access matrix: every route × every scope × another workspace', () => {
  let p: Portrait;
  let app: FastifyInstance;
  const keys: Record<string, string> = {};
  let foreign = '';
  let quarantineId = 0;
  let erasureId = '';
  const registered: string[] = [];

  before(async () => {
    ({ p } = await openMemory({ server: { rateLimit: { perSecond: 100_000 } }, scores: [{ name: 'churn', min: 0, max: 1 }] }));
    for (const [name, scopes] of Object.entries(KEY_SCOPES)) keys[name] = (await p.keys.create('default', scopes)).key;
    foreign = (await p.keys.create('other', ['write', 'read', 'pii', 'admin', 'privacy'])).key;
    app = buildServer(p);
    app.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) if (m !== 'HEAD') registered.push(`${m} ${r.url}`);
    });
    await app.ready();
    const r = await p.ingest([
      { type: 'identify', userId: 'u1', traits: { city: 'Lima', email: 'ann@example.com' } },
      { type: 'track' },
      { type: 'identify', userId: 'u-erase', traits: { city: 'Quito' } },
      { type: 'identify', userId: 'u-erased', traits: { city: 'Cusco' } },
    ]);
    quarantineId = r.outcomes.find((o) => o.status === 'quarantined')!.quarantineId!;
    await p.drain();
    await p.segments.put('segment', { name: 'cities', condition: 'attributes.city = "Lima"' });
    await p.segments.put('tag', { name: 'lima', condition: 'attributes.city = "Lima"' });
    await p.segments.put('tag', { name: 'vip', condition: null });
    await p.destinations.create('default', { id: 'crm', url: 'https://example.com/crm', kinds: ['segment.entered'] });
    erasureId = (await p.privacy.erase('user_id', 'u-erased')).id;
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('every registered route has an entry (a new route must be added here)', () => {
    const missing = registered.filter((r) => !(r in ROUTES));
    assert.deepEqual(missing, [], `routes without a matrix entry: ${missing.join(', ')}`);
    const stale = Object.keys(ROUTES).filter((r) => !registered.includes(r));
    assert.deepEqual(stale, [], `matrix entries without a route: ${stale.join(', ')}`);
  });

  it('answers 401 without a key, 403 without the scope, the expected status with it, and keeps workspaces apart', async () => {
    const failures: string[] = [];
    // Deletions last, so that the other calls find what they read.
    const order = Object.entries(ROUTES).sort(([a], [b]) => Number(a.startsWith('DELETE')) - Number(b.startsWith('DELETE')));
    const call = async (route: string, e: Entry, key: string | undefined) => {
      const method = route.split(' ')[0] as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      const r = await app.inject({
        method,
        url: e.url.replace('{q}', String(quarantineId)).replace('{e}', erasureId),
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(e.payload !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(e.payload !== undefined ? { payload: JSON.stringify(e.payload) } : {}),
      });
      if (r.statusCode >= 500) failures.push(`${route}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      return r.statusCode;
    };
    for (const [route, e] of order) {
      const expect = (who: string, got: number, want: number[]) => {
        if (!want.includes(got)) failures.push(`${route} with ${who}: ${got}, expected ${want.join('/')}`);
      };
      if (e.scope === 'none') {
        expect('no key', await call(route, e, undefined), e.ok);
        continue;
      }
      expect('no key', await call(route, e, undefined), [401]);
      expect('an unknown key', await call(route, e, 'abc.def'), [401]);
      expect("another workspace's key", await call(route, e, foreign), e.foreign ?? e.ok);
      // The key holding the route's scope last, so that a deletion happens once the others have been refused.
      const names = Object.keys(KEY_SCOPES).sort((a, b) => Number(a === e.scope) - Number(b === e.scope));
      for (const name of names) expect(`a ${name} key`, await call(route, e, keys[name]), name === e.scope ? e.ok : [403]);
    }
    assert.deepEqual(failures, [], failures.join('\n'));
    assert.equal((await p.profile('user_id', 'u1'))?.attributes.city, 'Lima', "the first workspace's profile is intact");
  });
});
