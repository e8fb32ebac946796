import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ManualClock } from '../src/core/clock.ts';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON responses read loosely in tests

describe('HTTP API: destinations, delivery log, dead letters, segment export', () => {
  let p: Portrait;
  let clock: ManualClock;
  let app: FastifyInstance;
  let receiver: Receiver;
  let up = false;
  let read: string;
  let admin: string;
  let other: string;
  let u1: string;
  let u2: string;

  const call = caller(() => app);
  const code = errorCode;

  before(async () => {
    ({ p, clock } = await openMemory({ delivery: { maxAttempts: 2, backoffBaseMs: 1, backoffCapMs: 1, timeoutMs: 5000 } }));
    read = (await p.keys.create('default', ['read'])).key;
    admin = (await p.keys.create('default', ['write', 'read', 'admin'])).key;
    other = (await p.keys.create('other', ['read', 'admin'])).key;
    receiver = await startReceiver(() => (up ? 200 : 500));
    app = buildServer(p);
    await p.ingest([
      { type: 'identify', userId: 'u1', anonymousId: 'a1', traits: { city: 'Lima, Peru', plan: 'pro' }, timestamp: T0 },
      { type: 'identify', userId: 'u2', traits: { city: 'Oslo "N"' }, timestamp: T0 },
    ]);
    await p.drain();
    // Segments nobody matches: the tests fill their members directly.
    for (const name of ['vip', 'nobody', 'big']) await p.segments.put('segment', { name, condition: 'event_count > 1000000' });
    await p.drain();
    u1 = (await p.profile('user_id', 'u1'))!.id;
    u2 = (await p.profile('user_id', 'u2'))!.id;
  });
  after(async () => {
    await app.close();
    await p.close();
    await receiver.close();
  });

  it('creates, lists, reads, changes and deletes destinations with the admin scope', async () => {
    const created = await call('POST', '/v1/destinations', admin, { id: 'crm', url: `${receiver.url}/crm`, kinds: ['segment.entered'] });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json() as Json;
    assert.match(body.secret, /^whsec_[0-9a-f]{48}$/, 'a generated secret, shown once');
    assert.equal(body.enabled, true, 'enabled by default');
    const listed = (await call('GET', '/v1/destinations', admin)).json() as Json;
    assert.deepEqual(listed.destinations.map((d: Json) => d.id), ['crm'], 'listed');
    assert.equal(listed.destinations[0].secret, undefined, 'no secret in the list');
    const patched = await call('PATCH', '/v1/destinations/crm', admin, { enabled: false, segments: ['vip'] });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual([(patched.json() as Json).enabled, (patched.json() as Json).segments], [false, ['vip']], 'changed');
    assert.equal((await call('GET', '/v1/destinations/crm', admin)).json().enabled, false, 'read back');
    assert.equal(code(await call('GET', '/v1/destinations/crm', other)), 'PORTRAIT_DESTINATION_NOT_FOUND', 'invisible from another workspace');
    const doc = (await call('GET', '/openapi.json', undefined)).json() as Json;
    assert.ok(doc.paths['/v1/destinations/{id}/deliveries'] && doc.paths['/v1/segments/{name}/export'], 'the routes are in the OpenAPI document');
    assert.equal((await call('DELETE', '/v1/destinations/crm', admin)).statusCode, 204, 'deleted');
    assert.equal((await call('GET', '/v1/destinations/crm', admin)).statusCode, 404, 'gone');
  });

  it('answers bad input, unknown ids and missing scopes with clear 4xx codes', async () => {
    const bad = await call('POST', '/v1/destinations', admin, { url: 'localhost:9/x', kinds: ['segment.left'] });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(code(bad), 'PORTRAIT_DESTINATION_INVALID', 'invalid destination');
    assert.deepEqual((bad.json() as Json).error.problems.map((x: Json) => x.path).sort(), ['/kinds/0', '/url'], 'every problem with its path');
    const noUrl = await call('POST', '/v1/destinations', admin, { kinds: ['segment.entered'] });
    assert.equal(code(noUrl), 'PORTRAIT_DESTINATION_INVALID', 'missing url');
    assert.equal(code(await call('POST', '/v1/destinations', read, { url: 'https://x.example', kinds: ['segment.entered'] })), 'PORTRAIT_AUTH_SCOPE', 'read key cannot create');
    assert.equal((await call('POST', '/v1/destinations', read, { url: 'https://x.example', kinds: ['segment.entered'] })).statusCode, 403, '403');
    assert.equal((await call('GET', '/v1/destinations', undefined)).statusCode, 401, 'no key');
    for (const url of ['/v1/destinations/nope', '/v1/destinations/nope/deliveries', '/v1/destinations/nope/dead-letters']) {
      const r = await call('GET', url, admin);
      assert.equal(r.statusCode, 404, `${url}: ${r.body}`);
      assert.equal(code(r), 'PORTRAIT_DESTINATION_NOT_FOUND', url);
    }
    assert.equal((await call('PATCH', '/v1/destinations/nope', admin, { enabled: true })).statusCode, 404, 'patch unknown');
    assert.equal((await call('POST', '/v1/destinations/nope/replay', admin)).statusCode, 404, 'replay unknown');
    assert.equal((await call('GET', '/v1/segments/vip/export?format=xml', read)).statusCode, 400, 'unknown export format');
    const field = await call('GET', '/v1/segments/vip/export?fields=city,,plan', read);
    assert.equal(code(field), 'PORTRAIT_EXPORT_FIELD_INVALID', field.body);
  });

  it('takes a tag filter naming defined tags or branches above them, and answers an unknown tag with 400 and its path', async () => {
    await p.segments.put('tag', { name: 'interest/sports/football' });
    const made = await call('POST', '/v1/destinations', admin, { id: 'sport', url: `${receiver.url}/sport`, kinds: ['tag.entered'], tags: ['interest/sports'] });
    assert.equal(made.statusCode, 201, made.body);
    assert.deepEqual((await call('GET', '/v1/destinations/sport', admin)).json().tags, ['interest/sports'], 'shown');
    const bad = await call('POST', '/v1/destinations', admin, { url: `${receiver.url}/x`, kinds: ['tag.entered'], tags: ['interest/sports', 'interest/music'] });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(code(bad), 'PORTRAIT_DESTINATION_INVALID', 'invalid destination');
    assert.deepEqual((bad.json() as Json).error.problems.map((x: Json) => x.path), ['/tags/1'], 'the unknown tag with its path');
    const patch = await call('PATCH', '/v1/destinations/sport', admin, { tags: ['sports'] });
    assert.equal(patch.statusCode, 400, patch.body);
    assert.deepEqual((await call('GET', '/v1/destinations/sport', admin)).json().tags, ['interest/sports'], 'unchanged');
    assert.equal((await call('DELETE', '/v1/destinations/sport', admin)).statusCode, 204, 'deleted');
  });

  it('shows the delivery log by status and replays dead letters', async () => {
    up = false;
    const created = await call('POST', '/v1/destinations', admin, { id: 'hook', url: `${receiver.url}/hook`, kinds: ['segment.entered', 'profile.updated'] });
    assert.equal(created.statusCode, 201, created.body);
    await p.destinations.store.appendOutbox(
      [u1, u2, u1].map((id, i) => ({ workspace: 'default', kind: i === 2 ? 'profile.updated' : 'segment.entered', profileId: id, payload: JSON.stringify({ segment: 'vip', time: T0 }), position: i + 1, createdAt: T0 })),
    );
    // maxAttempts 2 with a 1 ms backoff ceiling: two passes make them dead letters (the manual clock does not move, so step it).
    for (let i = 0; i < 2; i++) {
      await p.destinations.worker.runOnce();
      clock.advance(10);
    }
    const dead = await call('GET', '/v1/destinations/hook/deliveries?status=dead', read);
    assert.equal(dead.statusCode, 200, dead.body);
    assert.equal((dead.json() as Json).deliveries.length, 3, 'three dead');
    const paged = (await call('GET', '/v1/destinations/hook/deliveries?limit=2', read)).json() as Json;
    assert.equal(paged.deliveries.length, 2, 'a page of two');
    const rest = (await call('GET', `/v1/destinations/hook/deliveries?limit=2&after=${paged.next}`, read)).json() as Json;
    assert.equal(rest.deliveries.length, 1, 'the rest');
    assert.equal(rest.next, undefined, 'last page');
    assert.equal((await call('GET', '/v1/destinations/hook/deliveries?status=lost', read)).statusCode, 400, 'unknown status');
    const letters = (await call('GET', '/v1/destinations/hook/dead-letters', read)).json() as Json;
    assert.equal(letters.deadLetters.length, 3, 'three dead letters');
    assert.equal(letters.deadLetters[0].lastError, 'HTTP 500', 'with the last error');

    up = true;
    const one = letters.deadLetters[0].deliveryId as string;
    assert.equal(code(await call('POST', `/v1/destinations/hook/dead-letters/${encodeURIComponent(one)}/replay`, read)), 'PORTRAIT_AUTH_SCOPE', 'replay needs admin');
    const replayed = await call('POST', `/v1/destinations/hook/dead-letters/${encodeURIComponent(one)}/replay`, admin);
    assert.deepEqual(replayed.json(), { replayed: [one] }, replayed.body);
    assert.equal(code(await call('POST', `/v1/destinations/hook/dead-letters/${encodeURIComponent(one)}/replay`, admin)), 'PORTRAIT_DEAD_LETTER_NOT_FOUND', 'not twice');
    assert.equal(((await call('POST', '/v1/destinations/hook/replay', admin)).json() as Json).replayed.length, 2, 'the other two');
    await p.destinations.worker.runOnce();
    const delivered = (await call('GET', '/v1/destinations/hook/deliveries?status=delivered', read)).json() as Json;
    assert.equal(delivered.deliveries.length, 3, 'all delivered after replay');
    assert.deepEqual([...receiver.successes().values()], [1, 1, 1], 'each received once with 2xx');
  });

  it('exports a segment’s members as CSV and NDJSON with chosen attributes, streamed in pages', async () => {
    await p.destinations.store.addMembers([
      { workspace: 'default', segment: 'vip', profileId: u1, since: T0 },
      { workspace: 'default', segment: 'vip', profileId: u2, since: T0 + 1000 },
      { workspace: 'other', segment: 'vip', profileId: 'someone-else', since: T0 },
    ]);
    const csv = await call('GET', '/v1/segments/vip/export?format=csv&fields=city,plan', read);
    assert.equal(csv.statusCode, 200, csv.body);
    assert.match(String(csv.headers['content-type']), /^text\/csv/, 'csv content type');
    const lines = csv.body.trimEnd().split('\r\n');
    assert.equal(lines[0], 'profile_id,identifiers,member_since,city,plan', 'header');
    const byId = new Map(lines.slice(1).map((l) => [l.split(',')[0], l]));
    assert.equal(byId.size, 2, 'two members of this workspace');
    assert.match(byId.get(u1)!, /,"Lima, Peru",pro$/, 'a comma is quoted');
    assert.match(byId.get(u2)!, /,"Oslo ""N""",$/, 'quotes are doubled; a missing attribute is empty');
    assert.match(byId.get(u1)!, /anon:a1 user:u1|user:u1/, 'identifiers listed');

    const nd = await call('GET', '/v1/segments/vip/export?format=ndjson&fields=city', read);
    const rows = nd.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Json);
    assert.deepEqual(rows.map((r) => r.profileId).sort(), [u1, u2].sort(), 'ndjson members');
    assert.deepEqual(rows.find((r) => r.profileId === u1)!.attributes, { city: 'Lima, Peru' }, 'chosen attributes only');
    assert.equal(rows.find((r) => r.profileId === u2)!.memberSince, new Date(T0 + 1000).toISOString(), 'member since');

    const empty = await call('GET', '/v1/segments/nobody/export', read);
    assert.equal(empty.body, 'profile_id,identifiers,member_since\r\n', 'a segment without members exports only the header');
    const unknown = await call('GET', '/v1/segments/never_defined/export', read);
    assert.deepEqual([unknown.statusCode, code(unknown)], [404, 'PORTRAIT_SEGMENT_UNKNOWN'], 'an unknown segment is a 404, not an empty list');
  });

  it('exports computed traits as traits.<name> fields, and refuses unknown ones', async () => {
    await p.setTraits([{ name: 'pages', kind: 'count', filter: { type: 'page' } }]);
    await p.ingest([1, 2, 3].map((i) => ({ type: 'page', userId: 'u1', name: 'Home', messageId: `page-${i}`, timestamp: T0 + i })));
    await p.drain();
    await p.destinations.store.addMembers([{ workspace: 'default', segment: 'vip', profileId: u1, since: T0 }]);
    const csv = await call('GET', '/v1/segments/vip/export?format=csv&fields=city,traits.pages', read);
    assert.equal(csv.statusCode, 200, csv.body);
    const lines = csv.body.trimEnd().split('\r\n');
    assert.equal(lines[0], 'profile_id,identifiers,member_since,city,traits.pages', 'header names the trait');
    assert.match(lines.find((l) => l.startsWith(u1))!, /,"Lima, Peru",3$/, 'the trait value now');
    const nd = await call('GET', '/v1/segments/vip/export?format=ndjson&fields=traits.pages', read);
    const row = nd.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Json).find((r) => r.profileId === u1)!;
    assert.deepEqual([row.attributes, row.traits], [{}, { pages: 3 }], 'traits apart from attributes in NDJSON');
    const bad = await call('GET', '/v1/segments/vip/export?fields=traits.nope', read);
    assert.deepEqual([bad.statusCode, code(bad)], [400, 'PORTRAIT_EXPORT_FIELD_INVALID'], 'an unknown trait is refused');
  });

  it('pages through a large segment: every member exactly once, in profile id order', async () => {
    const many = Array.from({ length: 1234 }, (_, i) => ({ workspace: 'default', segment: 'big', profileId: `p${String(i).padStart(5, '0')}`, since: T0 }));
    await p.destinations.store.addMembers(many);
    let text = '';
    let chunks = 0;
    for await (const c of p.destinations.exportSegment('default', 'big', { format: 'ndjson', pageSize: 100 })) {
      text += c;
      chunks++;
    }
    const ids = text.trimEnd().split('\n').map((l) => (JSON.parse(l) as Json).profileId as string);
    assert.deepEqual(ids, many.map((m) => m.profileId), 'all, once, in order');
    assert.equal(chunks, 13, 'one chunk per page of 100');
  });
});
