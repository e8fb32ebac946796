/**
 * HTTP hardening: security headers (helmet), cross-origin access for the
 * configured origins only (CORS), and a request rate limit per API key (per
 * address for calls without a valid key) that answers 429 with Retry-After.
 * Register on the root before the routes.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

export function registerSecurity(app: FastifyInstance, p: Portrait, o: SecurityOptions): void {
  // The API docs page (/docs) loads its scripts and styles from /docs/static, which the default policy allows.
  // Portrait usually serves plain HTTP (TLS ends at a proxy, if any): asking browsers to upgrade to HTTPS would break /docs.
  void app.register(helmet, { global: true, contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } } });
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
