import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers are read loosely in assertions

describe('HTTP API: consent', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let read: string;
  let other: string;

  const call = caller(() => app);

  before(async () => {
    ({ p } = await openMemory({ traits: [{ name: 'mkt_orders', kind: 'count', purpose: 'marketing', filter: { event: 'Order Completed' } }] }));
    write = (await p.keys.create('default', ['write'])).key;
    read = (await p.keys.create('default', ['read'])).key;
    other = (await p.keys.create('other', ['write', 'read'])).key;
    app = buildServer(p);
    await p.ingest([{ type: 'identify', userId: 'u1', anonymousId: 'a1', timestamp: T0, messageId: 'i1' }]);
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('PUT records a decision through the log; GET shows every configured purpose', async () => {
    const put = await call('PUT', '/v1/profiles/anonymous_id/a1/consent', write, { marketing: true, analytics: false });
    assert.equal(put.statusCode, 202, put.body);
    const body = put.json() as Json;
    assert.deepEqual(body.consents, { marketing: true, analytics: false }, 'echoes the decisions');
    await p.drain();
    const got = await call('GET', '/v1/profiles/user_id/u1/consent', read);
    assert.equal(got.statusCode, 200, got.body);
    const c = got.json() as Json;
    assert.deepEqual(Object.keys(c.purposes), ['analytics', 'marketing', 'personalisation'], 'every configured purpose');
    assert.deepEqual([c.purposes.marketing.granted, c.purposes.marketing.source, c.purposes.marketing.messageId], [true, 'api', body.messageId], 'granted by the API event');
    assert.deepEqual(c.purposes.personalisation, { granted: false }, 'no decision: not granted');
    const profile = (await call('GET', '/v1/profiles/user_id/u1', read)).json() as Json;
    assert.equal(profile.consents.marketing.granted, true, 'the profile view carries consents');
  });

  it('refuses bad input with a clear error and records nothing', async () => {
    const before = (await call('GET', '/v1/profiles/user_id/u1/consent', read)).json() as Json;
    const bad = await call('PUT', '/v1/profiles/user_id/u1/consent', write, { marketing: 'yes', newsletter: true });
    assert.equal(bad.statusCode, 400, bad.body);
    const err = (bad.json() as Json).error;
    assert.equal(err.code, 'PORTRAIT_CONSENT_INVALID', 'typed error');
    assert.deepEqual(err.problems.map((x: Json) => x.path).sort(), ['/marketing', '/newsletter'], 'every problem with its path');
    const list = await call('PUT', '/v1/profiles/user_id/u1/consent', write, [true]);
    assert.equal(list.statusCode, 400, 'a list is not a consent object');
    await p.drain();
    assert.deepEqual((await call('GET', '/v1/profiles/user_id/u1/consent', read)).json(), before, 'nothing changed');
    const missing = await call('GET', '/v1/profiles/user_id/nobody/consent', read);
    assert.equal(missing.statusCode, 404, 'unknown profile');
  });

  it('needs the right scope and stays in the key’s workspace', async () => {
    assert.equal((await call('GET', '/v1/profiles/user_id/u1/consent', undefined)).statusCode, 401, 'no key');
    assert.equal((await call('GET', '/v1/profiles/user_id/u1/consent', write)).statusCode, 403, 'a write key cannot read');
    assert.equal((await call('PUT', '/v1/profiles/user_id/u1/consent', read, { marketing: false })).statusCode, 403, 'a read key cannot change');
    assert.equal((await call('GET', '/v1/profiles/user_id/u1/consent', other)).statusCode, 404, "another workspace's key does not see the profile");
  });
});
