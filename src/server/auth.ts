/**
 * Authentication: HTTP Basic with the key as user name and an empty
 * password (what Segment's SDKs send), a Bearer token, or a `writeKey`
 * field in a batch body. The principal's workspace scopes every call.
 */
import type { FastifyRequest } from 'fastify';
import { PortraitError } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import type { Principal, Scope } from '../portrait/keys.ts';

function presentedKey(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h?.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(0, colon) : decoded;
  }
  if (h?.startsWith('Bearer ')) return h.slice(7).trim();
  const body = req.body as { writeKey?: unknown } | undefined;
  if (body && typeof body === 'object' && typeof body.writeKey === 'string') return body.writeKey;
  return undefined;
}

const checked = new WeakMap<FastifyRequest, Promise<Principal | undefined>>();
const asked = new WeakMap<FastifyRequest, Scope>();

/** The scope a request's route asked for (undefined: the route needs no key). */
export function scopeAsked(req: FastifyRequest): Scope | undefined {
  return asked.get(req);
}

/** The principal of the key a request presents, or undefined; checked once per request (the rate limiter asks too). */
export function principalOf(p: Portrait, req: FastifyRequest): Promise<Principal | undefined> {
  let found = checked.get(req);
  if (found === undefined) {
    const key = presentedKey(req);
    found = key === undefined || key === '' ? Promise.resolve(undefined) : p.keys.authenticate(key);
    checked.set(req, found);
  }
  return found;
}

/** The caller's principal, requiring `scope`; throws 401 or 403. */
export async function authorize(p: Portrait, req: FastifyRequest, scope: Scope): Promise<Principal> {
  asked.set(req, scope);
  const key = presentedKey(req);
  if (key === undefined || key === '') {
    throw new PortraitError('PORTRAIT_AUTH_MISSING', 'No API key was sent. Use HTTP Basic with the key as user name, or "Authorization: Bearer <key>".', 401);
  }
  const principal = await principalOf(p, req);
  if (principal === undefined) throw new PortraitError('PORTRAIT_AUTH_INVALID', 'The API key is unknown or revoked. Create one with "portrait keys create".', 401);
  if (!principal.scopes.has(scope)) {
    throw new PortraitError('PORTRAIT_AUTH_SCOPE', `This key lacks the "${scope}" scope. Use a key created with --scopes ${scope}.`, 403);
  }
  return principal;
}
