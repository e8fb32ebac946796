import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('HTTP API: erasure, ledger and export (privacy scope)', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let admin: string;
  let privacy: string;
  let otherPrivacy: string;

  const call = caller(() => app);
  const code = errorCode;

  before(async () => {
    ({ p } = await openMemory());
    write = (await p.keys.create('default', ['write'])).key;
    admin = (await p.keys.create('default', ['write', 'read', 'admin'])).key;
    privacy = (await p.keys.create('default', ['privacy'])).key;
    otherPrivacy = (await p.keys.create('other', ['privacy'])).key;
    app = buildServer(p);
    await p.ingest([
      { type: 'identify', userId: 'ru1', anonymousId: 'ra1', traits: { email: 'ru1@example.com', city: 'Lima' }, timestamp: T0 },
      { type: 'track', userId: 'ru1', event: 'Order Completed', properties: { total: 3 }, timestamp: T0 + 1000 },
      { type: 'identify', userId: 'ru2', traits: { city: 'Oslo' }, timestamp: T0 },
    ]);
    await p.drain();
  });

  after(async () => {
    await app.close();
    await p.close();
  });

  it('refuses keys without the privacy scope (403) and requests without a key (401)', async () => {
    for (const [method, url, body] of [
      ['POST', '/v1/privacy/erase', { idType: 'user_id', id: 'ru1' }],
      ['GET', '/v1/privacy/erasures', undefined],
      ['GET', '/v1/privacy/erasures/er_x', undefined],
      ['GET', '/v1/privacy/export/user_id/ru1', undefined],
    ] as const) {
      for (const key of [write, admin]) assert.equal((await call(method, url, key, body)).statusCode, 403, `${method} ${url} needs the privacy scope`);
      assert.equal((await call(method, url, undefined, body)).statusCode, 401, `${method} ${url} needs a key`);
    }
    assert.ok(await p.profile('user_id', 'ru1'), 'nothing was erased by the refused calls');
  });

  it('exports a person as JSON, within the key’s workspace only', async () => {
    const r = await call('GET', '/v1/privacy/export/email/RU1@example.com', privacy);
    assert.equal(r.statusCode, 200, 'export answers 200');
    const body = r.json() as Json;
    assert.equal(body.profile.attributes.city, 'Lima', 'the profile is in the export');
    assert.equal(body.events.length, 2, 'the events are in the export');
    assert.ok('consents' in body, 'the export has a place for consents');
    const other = await call('GET', '/v1/privacy/export/user_id/ru1', otherPrivacy);
    assert.equal(other.statusCode, 404, "another workspace's key does not see the person");
    assert.equal(code(other), 'PORTRAIT_PROFILE_NOT_FOUND', 'with the typed error');
  });

  it('erases with 202, then the ledger entry shows it completed; bad input gets clear 4xx', async () => {
    assert.equal((await call('POST', '/v1/privacy/erase', privacy, { idType: 'user_id' })).statusCode, 400, 'a body without id is a 400');
    const unknown = await call('POST', '/v1/privacy/erase', privacy, { idType: 'user_id', id: 'nobody' });
    assert.equal(unknown.statusCode, 404, 'an unknown person is a 404');
    assert.equal(code(await call('POST', '/v1/privacy/erase', privacy, { idType: 'passport', id: 'x' })), 'PORTRAIT_IDENTITY_UNKNOWN_TYPE', 'an unknown id type is refused');
    assert.equal((await call('POST', '/v1/privacy/erase', otherPrivacy, { idType: 'user_id', id: 'ru1' })).statusCode, 404, 'another workspace cannot erase this person');

    const r = await call('POST', '/v1/privacy/erase', privacy, { idType: 'anonymous_id', id: 'ra1' });
    assert.equal(r.statusCode, 202, 'erase answers 202');
    const entry = r.json() as Json;
    assert.equal(entry.status, 'pending', 'the entry starts pending');
    assert.equal(r.headers.location, `/v1/privacy/erasures/${entry.id}`, 'Location points at the ledger entry');
    const done = (await call('GET', `/v1/privacy/erasures/${entry.id}?wait=true`, privacy)).json() as Json;
    assert.equal(done.status, 'completed', 'waiting returns the completed entry');
    assert.equal(done.removed.profiles, 1, 'the profile was removed');
    assert.equal(done.requestedBy, privacy.split('.')[0], 'the ledger names the requesting key id');
    assert.equal((await call('GET', `/v1/privacy/erasures/${entry.id}`, otherPrivacy)).statusCode, 404, "another workspace does not see this ledger");
    const list = (await call('GET', '/v1/privacy/erasures', privacy)).json() as Json;
    assert.deepEqual(list.erasures.map((e: Json) => e.id), [entry.id], 'the ledger lists the erasure');
    assert.ok(!JSON.stringify(list).includes('ru1') && !JSON.stringify(list).includes('Lima'), 'the ledger holds no personal data');
    assert.equal((await call('GET', '/v1/privacy/export/user_id/ru1', privacy)).statusCode, 404, 'nothing is left to export');
    // The SDK keeps sending: acknowledged, not stored.
    const late = await call('POST', '/v1/track', write, { userId: 'ru1', event: 'Late' });
    assert.equal(late.statusCode, 200, 'a late event is acknowledged so the SDK does not retry');
    await p.drain();
    assert.equal(await p.profile('user_id', 'ru1'), undefined, 'the late event did not recreate the person');
    assert.ok(await p.profile('user_id', 'ru2'), 'another person stays');
  });
});
