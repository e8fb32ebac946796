/**
 * Emails as identity keys: normalised so that one address has one spelling,
 * then stored as a keyed hash (HMAC), never in the clear.
 */
import { createHmac } from 'node:crypto';

/** RFC 5321's limit on a whole address. */
const MAX_EMAIL_LENGTH = 254;

// local@domain: no spaces, exactly one @, a dot inside the domain, no empty domain labels.
const EMAIL = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/;

/**
 * Trims, Unicode-normalises (NFC) and lower-cases an email address; returns
 * `undefined` unless the result looks like `local@domain.tld`. Provider
 * aliasing (dots or `+tags` in Gmail) is left alone: those may be different people.
 */
export function normalizeEmail(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  const email = s.trim().normalize('NFC').toLowerCase();
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) return undefined;
  return email;
}

/**
 * A keyed hash of an identifier value: HMAC-SHA256 under `key`, base64url,
 * first 32 characters (192 bits). Without the key it cannot be reversed by
 * hashing a list of candidate addresses, as a plain hash could.
 */
export function identityHash(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url').slice(0, 32);
}

/**
 * A workspace's own identity key, derived from the instance's: the same
 * address hashes differently in two workspaces, so one tenant's hashes say
 * nothing about another's.
 */
export function workspaceIdentityKey(key: Buffer, workspace: string): Buffer {
  return createHmac('sha256', key).update(`portrait identity\u0000${workspace}`, 'utf8').digest();
}

/** Hashes emails (after normalising them) with each workspace's identity key; keys are derived once per workspace. */
export function emailHasher(key: Buffer): (workspace: string, email: unknown) => string | undefined {
  const keys = new Map<string, Buffer>();
  return (workspace, v) => {
    const e = typeof v === 'string' ? normalizeEmail(v) : undefined;
    if (e === undefined) return undefined;
    let k = keys.get(workspace);
    if (k === undefined) keys.set(workspace, (k = workspaceIdentityKey(key, workspace)));
    return identityHash(k, e);
  };
}
