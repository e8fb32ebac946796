/**
 * HTTP hardening: security headers (helmet), cross-origin access for the
 * configured origins only (CORS), and a request rate limit per API key (per
 * address for calls without a valid key) that answers 429 with Retry-After.
 * Register on the root before the routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { Errors } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { principalOf } from './auth.ts';

export interface SecurityOptions {
  /** Origins allowed to call from a browser; "*" for any; empty for none. */
  corsOrigins: readonly string[];
  /** Requests per second per API key; 0 for no limit. */
  rateLimitPerSecond: number;
}

/** The rate-limit bucket of a request: the id of a key that authenticates, else the caller's address. */
async function bucketOf(p: Portrait, req: FastifyRequest): Promise<string> {
  const principal = await principalOf(p, req);
  return principal ? `key:${principal.keyId}` : `ip:${req.ip}`;
}

/**
 * The headers helmet sets (and removes) with Portrait's options. None depends
 * on the request, so they are computed once: built per request, as the
 * Fastify plugin does, they cost about 0.06 ms of the main thread each time.
 */
export function securityHeaders(): { set: Array<[string, string]>; removed: string[] } {
  const set: Array<[string, string]> = [];
  const removed: string[] = [];
  const res = {
    setHeader: (name: string, value: string) => void set.push([name, String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  };
  // The API docs page (/docs) loads its scripts and styles from /docs/static, which the default policy allows.
  // Portrait usually serves plain HTTP (TLS ends at a proxy, if any): asking browsers to upgrade to HTTPS would break /docs.
  const middleware = helmet({ contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } } });
  // helmet only calls setHeader and removeHeader on the response (no directive is a function of the request).
  middleware({} as IncomingMessage, res as unknown as ServerResponse, (e?: unknown) => {
    if (e) throw e;
  });
  return { set, removed };
}

export function registerSecurity(app: FastifyInstance, p: Portrait, o: SecurityOptions): void {
  const headers = securityHeaders();
  app.addHook('onRequest', (_req, reply, done) => {
    for (const [name, value] of headers.set) reply.raw.setHeader(name, value);
    for (const name of headers.removed) reply.raw.removeHeader(name);
    done();
  });
  if (o.corsOrigins.length > 0) {
    void app.register(cors, {
      origin: o.corsOrigins.includes('*') ? '*' : [...o.corsOrigins],
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      maxAge: 600,
    });
  }
  if (o.rateLimitPerSecond > 0) {
    void app.register(rateLimit, {
      global: true,
      max: o.rateLimitPerSecond,
      timeWindow: 1000,
      // After body parsing, so that a write key sent in a batch body counts too.
      hook: 'preHandler',
      keyGenerator: (req) => bucketOf(p, req),
      errorResponseBuilder: (_req, ctx) => Errors.rateLimited(ctx.max, ctx.after),
    });
  }
}
