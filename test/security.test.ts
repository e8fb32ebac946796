import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { securityHeaders } from '../src/server/security.ts';
import { openMemory } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are read field by field

describe('HTTP hardening', () => {
  let p: Portrait;
  let key: string;
  let other: string;
  const apps: FastifyInstance[] = [];
  const server = (o: Parameters<typeof buildServer>[1] = {}) => {
    const app = buildServer(p, o);
    apps.push(app);
    return app;
  };

  before(async () => {
    ({ p } = await openMemory());
    key = (await p.keys.create('default', ['write', 'read'])).key;
    other = (await p.keys.create('default', ['write', 'read'])).key;
  });
  after(async () => {
    for (const a of apps) await a.close();
    await p.close();
  });

  it('sends security headers, and the /docs page still loads under its content security policy', async () => {
    const app = server();
    const r = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(r.headers['x-content-type-options'], 'nosniff', 'nosniff');
    assert.ok(r.headers['x-frame-options'], 'framing is restricted');
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200, 'the docs page answers');
    const csp = String(docs.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/, 'scripts only from this origin');
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, 'no upgrade to HTTPS, which would break /docs on plain HTTP');
    const scripts = [...docs.body.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    assert.ok(scripts.length > 0, 'the page has scripts');
    for (const [, attrs, inline] of scripts) {
      assert.equal(inline!.trim(), '', 'no inline script, which the policy would block');
      const src = /src="\.\/([^"]+)"/.exec(attrs!)?.[1];
      assert.ok(src, `a script from this origin: ${attrs}`);
      const asset = await app.inject({ method: 'GET', url: `/docs/${src}` });
      assert.equal(asset.statusCode, 200, `${src} loads`);
    }
  });

  it('sends the same security headers on every answer: a route, an unknown route, an ingest and an error', async () => {
    const app = server();
    const { set } = securityHeaders();
    assert.ok(set.length >= 10, `helmet's headers: ${set.map(([n]) => n).join(', ')}`);
    assert.ok(set.some(([n, v]) => n.toLowerCase() === 'strict-transport-security' && v.startsWith('max-age=')), 'HSTS');
    const answers = [
      await app.inject({ method: 'GET', url: '/healthz' }),
      await app.inject({ method: 'GET', url: '/no/such/route' }),
      await app.inject({ method: 'POST', url: '/v1/batch', payload: { batch: [{ type: 'track', userId: 'h1', event: 'x' }] }, headers: { authorization: `Bearer ${key}` } }),
      await app.inject({ method: 'POST', url: '/v1/batch', payload: '{not json', headers: { authorization: `Bearer ${key}` } }),
    ];
    assert.deepEqual(answers.map((r) => r.statusCode), [200, 404, 200, 400]);
    for (const r of answers) {
      for (const [name, value] of set) assert.equal(r.headers[name.toLowerCase()], value, `${name} on a ${r.statusCode}`);
      assert.equal(r.headers['x-powered-by'], undefined);
    }
  });

  it('allows no cross-origin calls by default, and exactly the configured origins', async () => {
    const preflight = (app: FastifyInstance, origin: string) =>
      app.inject({ method: 'OPTIONS', url: '/v1/profiles/search', headers: { origin, 'access-control-request-method': 'POST' } });
    const closed = await preflight(server(), 'https://app.example');
    assert.equal(closed.headers['access-control-allow-origin'], undefined, 'no CORS header by default');
    const open = server({ corsOrigins: ['https://app.example'] });
    const allowed = await preflight(open, 'https://app.example');
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example', 'a listed origin is allowed');
    const refused = await preflight(open, 'https://evil.example');
    assert.notEqual(refused.headers['access-control-allow-origin'], 'https://evil.example', 'another origin is not');
  });

  it('limits requests per API key with 429 and Retry-After', async () => {
    const app = server({ rateLimitPerSecond: 3 });
    const get = (k: string) => app.inject({ method: 'GET', url: '/v1/profiles/user_id/nobody', headers: { authorization: `Bearer ${k}` } });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await get(key)).statusCode);
    assert.deepEqual(codes.slice(0, 3), [404, 404, 404], 'within the limit, requests go through');
    const limited = await get(key);
    assert.equal(limited.statusCode, 429, limited.body);
    assert.ok(Number(limited.headers['retry-after']) >= 1, `Retry-After in seconds: ${String(limited.headers['retry-after'])}`);
    assert.equal((limited.json() as Json).error.code, 'PORTRAIT_HTTP_RATE_LIMITED', 'a Portrait error code');
    assert.match((limited.json() as Json).error.message, /3 a second/, 'says the limit');
    assert.equal((await get(other)).statusCode, 404, 'another key has its own budget');
    const basic = await app.inject({ method: 'GET', url: '/v1/profiles/user_id/nobody', headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` } });
    assert.equal(basic.statusCode, 429, 'the same key over Basic auth shares the budget');
    const off = server({ rateLimitPerSecond: 0 });
    for (let i = 0; i < 10; i++) assert.equal((await off.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, '0 turns the limit off');
  });

  it('never sends a stack trace or internal message in an error response', async () => {
    const app = server();
    app.get('/boom', async () => {
      throw new Error('secret-internal-detail at /srv/portrait/src/x.ts:12');
    });
    app.get('/boom-type', async () => {
      const o = undefined as unknown as { x: { y: number } };
      return o.x.y;
    });
    for (const url of ['/boom', '/boom-type']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 500, `${url}: 500`);
      assert.doesNotMatch(r.body, /secret-internal-detail|\.ts:\d|\bat \w|undefined|stack/i, `${url}: no internals in ${r.body}`);
      const e = (r.json() as Json).error;
      assert.equal(e.code, 'PORTRAIT_INTERNAL', `${url}: generic code`);
      assert.equal(typeof e.requestId, 'string', `${url}: a request id to find the logged error`);
    }
  });
});
