/**
 * A definition sent to `PUT /v1/<kind>/{name}`: its name may be left out
 * of the body (the path names it); when given, it must be the path's.
 */
import type { PortraitError } from '../core/errors.ts';

export function namedByPath(body: unknown, name: string, mismatch: (body: unknown, path: string) => PortraitError): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const given = (body as { name?: unknown }).name;
  if (given === undefined) return { ...body, name };
  if (given !== name) throw mismatch(given, name);
  return body;
}
