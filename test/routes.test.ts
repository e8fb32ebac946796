import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('HTTP API: profile records, identity, quarantine, trait definitions', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let read: string;
  let admin: string;
  let other: string;
  let badQuarantineId: number;

  const call = caller(() => app);
  const get = (url: string, key: string | null = read) => call('GET', url, key ?? undefined);
  const code = errorCode;

  before(async () => {
    ({ p } = await openMemory({
      attributes: { setOnce: ['signup'] },
      traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
    }));
    write = (await p.keys.create('default', ['write'])).key;
    read = (await p.keys.create('default', ['read'])).key;
    admin = (await p.keys.create('default', ['write', 'read', 'admin'])).key;
    other = (await p.keys.create('other', ['write', 'read', 'admin'])).key;
    app = buildServer(p);
    const r = await p.ingest([
      { type: 'identify', userId: 'u1', anonymousId: 'a1', traits: { city: 'Lima', signup: 'ads' }, timestamp: T0 },
      { type: 'identify', userId: 'u1', traits: { city: 'Oslo', signup: 'organic' }, timestamp: T0 + 1000 },
      ...Array.from({ length: 5 }, (_, i) => ({ type: 'track', userId: 'u1', event: 'Order Completed', properties: { price: i }, timestamp: T0 + 2000 + i * 1000 })),
      { type: 'track', anonymousId: 'a1', event: 'Product Viewed', timestamp: T0 + 10_000 },
      // Two user ids through one anonymous id: the guard refuses the link.
      { type: 'identify', userId: 'u2', anonymousId: 'shared', timestamp: T0 },
      { type: 'identify', userId: 'u3', anonymousId: 'shared', timestamp: T0 + 1000 },
      { type: 'track', event: 'no ids' },
    ]);
    badQuarantineId = (r.outcomes.find((o) => o.status === 'quarantined') as { quarantineId: number }).quarantineId;
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('lists a profile’s events newest first, filtered and paged', async () => {
    const r = await get('/v1/profiles/user_id/u1/events?limit=3');
    assert.equal(r.statusCode, 200, r.body);
    const first = r.json() as Json;
    assert.equal(first.events.length, 3);
    assert.equal(typeof first.next, 'number');
    const times = first.events.map((e: Json) => e.record.timestamp);
    assert.deepEqual(times, [...times].sort((a: number, b: number) => b - a));
    const second = (await get(`/v1/profiles/user_id/u1/events?limit=100&before=${first.next}`)).json() as Json;
    assert.equal(first.events.length + second.events.length, 8);
    assert.equal(second.next, undefined);

    const named = (await get('/v1/profiles/user_id/u1/events?name=Order%20Completed')).json() as Json;
    assert.equal(named.events.length, 5);
    const from = new Date(T0 + 4000).toISOString();
    const ranged = (await get(`/v1/profiles/user_id/u1/events?name=Order%20Completed&from=${from}&to=${T0 + 5000}`)).json() as Json;
    assert.deepEqual(ranged.events.map((e: Json) => e.record.properties.price), [3, 2]);
  });

  it('lists history, merges, links and attribute conflicts', async () => {
    const h = await get('/v1/profiles/user_id/u1/history?limit=2');
    assert.equal(h.statusCode, 200, h.body);
    const hist = h.json() as Json;
    assert.equal(hist.history.length, 2);
    assert.equal(typeof hist.next, 'number');
    const older = (await get(`/v1/profiles/user_id/u1/history?before=${hist.next}`)).json() as Json;
    assert.ok(older.history.length > 0, 'older.history.length > 0');
    assert.ok(older.history.every((e: Json) => e.position < hist.next), 'older.history.every((e: Json) => e.position < hist.next)');

    const m = await get('/v1/profiles/anonymous_id/a1/merges');
    assert.equal(m.statusCode, 200, m.body);
    assert.ok(Array.isArray((m.json() as Json).merges), 'Array.isArray((m.json() as Json).merges)');

    const l = await get('/v1/profiles/user_id/u1/links');
    assert.equal(l.statusCode, 200, l.body);
    const links = (l.json() as Json).links as Json[];
    assert.ok(links.some((k) => [k.a, k.b].sort().join(' ') === 'anon:a1 user:u1'), l.body);

    const c = await get('/v1/profiles/user_id/u1/conflicts');
    assert.equal(c.statusCode, 200, c.body);
    assert.ok(((c.json() as Json).conflicts as Json[]).length >= 1, c.body);
  });

  it('lists identity conflicts', async () => {
    const r = await get('/v1/identity/conflicts');
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(((r.json() as Json).conflicts as Json[]).length >= 1, r.body);
  });

  it('lists, inspects and re-submits quarantined messages', async () => {
    const list = await get('/v1/quarantine?limit=10');
    assert.equal(list.statusCode, 200, list.body);
    assert.ok(((list.json() as Json).quarantined as Json[]).some((q) => q.id === badQuarantineId), '((list.json() as Json).quarantined as Json[]).some((q) => q.id === badQuarant...');

    const one = await get(`/v1/quarantine/${badQuarantineId}`);
    assert.equal(one.statusCode, 200, one.body);
    assert.equal((one.json() as Json).id, badQuarantineId);
    assert.equal((one.json() as Json).status, 'open');

    // As it was: still invalid, quarantined again under a new id.
    const again = await call('POST', `/v1/quarantine/${badQuarantineId}/resubmit`, admin);
    assert.equal(again.statusCode, 200, again.body);
    const outcome = again.json() as Json;
    assert.equal(outcome.status, 'quarantined');
    assert.ok(outcome.problems.length > 0, 'outcome.problems.length > 0');
    const inspected = (await get(`/v1/quarantine/${badQuarantineId}`)).json() as Json;
    assert.equal(inspected.status, 'resubmitted');
    assert.equal(code(await call('POST', `/v1/quarantine/${badQuarantineId}/resubmit`, admin, {})), 'PORTRAIT_QUARANTINE_NOT_FOUND');

    // Fixed: accepted.
    const fixed = await call('POST', `/v1/quarantine/${outcome.quarantineId}/resubmit`, admin, { message: { type: 'track', userId: 'u9', event: 'fixed', timestamp: T0 } });
    assert.equal(fixed.statusCode, 200, fixed.body);
    assert.equal((fixed.json() as Json).status, 'accepted');
    await p.drain();
    assert.equal((await get('/v1/profiles/user_id/u9')).statusCode, 200);

    const paged = (await get('/v1/quarantine?limit=1&status=resubmitted')).json() as Json;
    assert.equal(paged.quarantined.length, 1);
    assert.equal(typeof paged.next, 'number');
  });

  it('lists, validates, replaces and removes trait definitions', async () => {
    const list = await get('/v1/traits');
    assert.equal(list.statusCode, 200, list.body);
    assert.deepEqual(((list.json() as Json).traits as Json[]).map((t) => t.name), ['orders']);

    const valid = await call('POST', '/v1/traits/validate', read, { name: 'revenue', kind: 'sum', value: 'properties.price' });
    assert.equal(valid.statusCode, 200, valid.body);
    assert.deepEqual(valid.json(), { valid: true, definition: { name: 'revenue', kind: 'sum', value: 'properties.price' } });
    const invalid = await call('POST', '/v1/traits/validate', read, { name: 'revenue', kind: 'sum' });
    assert.equal(invalid.statusCode, 400);
    assert.match(code(invalid) ?? '', /^PORTRAIT_/);
    assert.ok(((invalid.json() as Json).error.problems as Json[]).length > 0, invalid.body);

    const created = await call('PUT', '/v1/traits/revenue', admin, { name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((created.json() as Json).name, 'revenue');
    assert.equal((created.json() as Json).source, 'api', 'made over the API');
    const replaced = await call('PUT', '/v1/traits/revenue', admin, { name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.qty' });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal((replaced.json() as Json).version, 2, 'a changed definition is a new version');
    const views = await call('PUT', '/v1/traits/views', admin, { name: 'views', kind: 'count', filter: { event: 'Product Viewed' } });
    assert.equal(views.statusCode, 201, views.body);
    await p.drain();
    const view = (await get('/v1/profiles/user_id/u1')).json() as Json;
    assert.equal(view.traits.revenue, 0, 'revenue now sums a property the orders do not have');
    assert.equal(view.traits.orders, 5, 'the configuration file\'s trait is untouched');
    assert.equal(view.traits.views, 1, 'a second API trait is kept beside the first');

    const owned = await call('PUT', '/v1/traits/orders', admin, { name: 'orders', kind: 'count', filter: { event: 'Product Viewed' } });
    assert.equal(owned.statusCode, 409, owned.body);
    assert.equal(code(owned), 'PORTRAIT_TRAIT_FROM_CONFIG', 'the configuration file owns its names');
    assert.equal(code(await call('DELETE', '/v1/traits/orders', admin)), 'PORTRAIT_TRAIT_FROM_CONFIG', 'nor can the API delete them');

    const posted = await call('POST', '/v1/traits', admin, { name: 'carts', kind: 'count', filter: { event: 'Product Added' } });
    assert.equal(posted.statusCode, 201, posted.body);
    assert.equal((posted.json() as Json).name, 'carts');
    const taken = await call('POST', '/v1/traits', admin, { name: 'carts', kind: 'count', filter: { event: 'Cart Viewed' } });
    assert.equal(taken.statusCode, 409, taken.body);
    assert.equal(code(taken), 'PORTRAIT_TRAIT_EXISTS');
    assert.equal(((await get('/v1/traits')).json() as Json).traits.find((t: Json) => t.name === 'carts').version, 1, 'the taken name keeps its definition');
    assert.equal(code(await call('POST', '/v1/traits', admin, { name: 'orders', kind: 'count' })), 'PORTRAIT_TRAIT_FROM_CONFIG', 'a name the file owns says so');
    const unnamed = await call('PUT', '/v1/traits/carts', admin, { kind: 'count', filter: { event: 'Cart Viewed' } });
    assert.equal(unnamed.statusCode, 200, unnamed.body);
    assert.equal((unnamed.json() as Json).version, 2, 'the path names it');
    const mismatch = await call('PUT', '/v1/traits/carts', admin, { name: 'baskets', kind: 'count' });
    assert.equal(code(mismatch), 'PORTRAIT_TRAIT_NAME_MISMATCH', mismatch.body);
    assert.equal((await call('DELETE', '/v1/traits/carts', admin)).statusCode, 204);

    const del = await call('DELETE', '/v1/traits/revenue', admin);
    assert.equal(del.statusCode, 204, del.body);
    assert.deepEqual(((await get('/v1/traits')).json() as Json).traits.map((t: Json) => t.name), ['orders', 'views']);
    assert.equal((await call('DELETE', '/v1/traits/views', admin)).statusCode, 204, 'remove the second API trait too');
  });

  it('splits a profile on unmerge (202)', async () => {
    await p.ingest([{ type: 'identify', userId: 'w1', anonymousId: 'wa', timestamp: T0 }]);
    await p.drain();
    const r = await call('POST', '/v1/identity/unmerge', admin, { a: 'user:w1', b: 'anon:wa' });
    assert.equal(r.statusCode, 202, r.body);
    assert.equal(typeof (r.json() as Json).messageId, 'string');
    await p.drain();
    const w1 = (await get('/v1/profiles/user_id/w1')).json() as Json;
    const wa = (await get('/v1/profiles/anonymous_id/wa')).json() as Json;
    assert.notEqual(w1.id, wa.id);
    const merges = (await get('/v1/profiles/user_id/w1/merges')).json() as Json;
    assert.ok((merges.merges as Json[]).some((m) => m.kind === 'unmerge'), JSON.stringify(merges));
  });

  it('requires the right key: 401 without, 403 for a write key reading, 403 for a read key changing', async () => {
    const reads = [
      '/v1/profiles/user_id/u1/events',
      '/v1/profiles/user_id/u1/history',
      '/v1/profiles/user_id/u1/merges',
      '/v1/profiles/user_id/u1/links',
      '/v1/profiles/user_id/u1/conflicts',
      '/v1/identity/conflicts',
      '/v1/quarantine',
      `/v1/quarantine/${badQuarantineId}`,
      '/v1/traits',
    ];
    for (const url of reads) {
      const none = await get(url, null);
      assert.equal(none.statusCode, 401, url);
      assert.equal(code(none), 'PORTRAIT_AUTH_MISSING', url);
      const w = await get(url, write);
      assert.equal(w.statusCode, 403, url);
      assert.equal(code(w), 'PORTRAIT_AUTH_SCOPE', url);
    }
    const changes: Array<[Parameters<typeof call>[0], string, unknown]> = [
      ['POST', '/v1/identity/unmerge', { a: 'user:u1', b: 'anon:a1' }],
      ['POST', `/v1/quarantine/${badQuarantineId}/resubmit`, {}],
      ['PUT', '/v1/traits/orders', { name: 'orders', kind: 'count' }],
      ['DELETE', '/v1/traits/orders', undefined],
    ];
    for (const [method, url, body] of changes) {
      const r = await call(method, url, read, body);
      assert.equal(r.statusCode, 403, `${method} ${url}`);
      assert.equal(code(r), 'PORTRAIT_AUTH_SCOPE', `${method} ${url}`);
      assert.equal((await call(method, url, 'nope.nope', body)).statusCode, 401, `${method} ${url}`);
    }
    assert.equal(code(await call('POST', '/v1/traits/validate', write, { name: 'x', kind: 'count' })), 'PORTRAIT_AUTH_SCOPE');
  });

  it('answers 404 for what does not exist', async () => {
    const cases: Array<[Promise<LightMyRequestResponse>, string]> = [
      [get('/v1/profiles/user_id/nobody/events'), 'PORTRAIT_PROFILE_NOT_FOUND'],
      [get('/v1/profiles/user_id/nobody/history'), 'PORTRAIT_PROFILE_NOT_FOUND'],
      [get('/v1/profiles/user_id/nobody/merges'), 'PORTRAIT_PROFILE_NOT_FOUND'],
      [get('/v1/profiles/user_id/nobody/links'), 'PORTRAIT_PROFILE_NOT_FOUND'],
      [get('/v1/profiles/user_id/nobody/conflicts'), 'PORTRAIT_PROFILE_NOT_FOUND'],
      [get('/v1/quarantine/999999'), 'PORTRAIT_QUARANTINE_NOT_FOUND'],
      [call('POST', '/v1/quarantine/999999/resubmit', admin, {}), 'PORTRAIT_QUARANTINE_NOT_FOUND'],
      [call('POST', '/v1/identity/unmerge', admin, { a: 'user:u1', b: 'anon:zzz' }), 'PORTRAIT_IDENTITY_LINK_NOT_FOUND'],
      [call('DELETE', '/v1/traits/nothing', admin), 'PORTRAIT_TRAIT_UNKNOWN'],
    ];
    for (const [pending, expected] of cases) {
      const r = await pending;
      assert.equal(r.statusCode, 404, r.body);
      assert.equal(code(r), expected, r.body);
    }
  });

  it('answers bad input with 400 and a PORTRAIT_* code', async () => {
    const cases: Array<[Promise<LightMyRequestResponse>, string]> = [
      [get('/v1/profiles/user_id/u1/events?from=yesterday'), 'PORTRAIT_HTTP_BAD_TIME'],
      [get('/v1/profiles/user_id/u1/events?limit=0'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [get('/v1/profiles/user_id/u1/events?limit=abc'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [get('/v1/profiles/user_id/u1/history?before=-1'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [get('/v1/profiles/phone/1/links'), 'PORTRAIT_IDENTITY_UNKNOWN_TYPE'],
      [get('/v1/quarantine?limit=many'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [get('/v1/quarantine?status=weird'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [get('/v1/quarantine/abc'), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [call('POST', '/v1/identity/unmerge', admin, { a: 'user:u1' }), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [call('POST', '/v1/identity/unmerge', admin, { a: '', b: 'anon:a1' }), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [call('POST', '/v1/traits/validate', read, ['not', 'an', 'object']), 'PORTRAIT_HTTP_BAD_REQUEST'],
      [call('PUT', '/v1/traits/orders', admin, { name: 'other', kind: 'count' }), 'PORTRAIT_TRAIT_NAME_MISMATCH'],
      [call('PUT', '/v1/traits/orders', admin, { name: 'orders', kind: 'nonsense' }), 'PORTRAIT_CONFIG_INVALID'],
    ];
    for (const [pending, expected] of cases) {
      const r = await pending;
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(code(r), expected, r.body);
    }
    // Nothing changed.
    assert.deepEqual(((await get('/v1/traits')).json() as Json).traits.map((t: Json) => t.name), ['orders']);
  });

  it('never lets another workspace’s key see this workspace', async () => {
    for (const url of ['events', 'history', 'merges', 'links', 'conflicts'].map((s) => `/v1/profiles/user_id/u1/${s}`)) {
      const r = await get(url, other);
      assert.equal(r.statusCode, 404, url);
      assert.equal(code(r), 'PORTRAIT_PROFILE_NOT_FOUND', url);
    }
    assert.deepEqual((await get('/v1/identity/conflicts', other)).json(), { conflicts: [] });
    assert.deepEqual((await get('/v1/quarantine?status=open', other)).json(), { quarantined: [] });
    assert.deepEqual((await get('/v1/quarantine?status=resubmitted', other)).json(), { quarantined: [] });
    assert.equal(code(await get(`/v1/quarantine/${badQuarantineId}`, other)), 'PORTRAIT_QUARANTINE_NOT_FOUND');
    // Earlier tests re-submit what they quarantined: quarantine one more message for this check.
    await p.ingest([{ type: 'track', event: 'still no ids' }]);
    const open = ((await get('/v1/quarantine?status=open')).json() as Json).quarantined as Json[];
    assert.ok(open.length > 0, 'a quarantined message is open');
    assert.equal(code(await call('POST', `/v1/quarantine/${open[0]!.id}/resubmit`, other, {})), 'PORTRAIT_QUARANTINE_NOT_FOUND');
    assert.equal(code(await call('POST', '/v1/identity/unmerge', other, { a: 'user:u1', b: 'anon:a1' })), 'PORTRAIT_IDENTITY_LINK_NOT_FOUND');
  });
});
