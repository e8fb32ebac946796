/**
 * Emails as identity keys: normalised so that one address has one spelling,
 * then stored as a keyed hash (HMAC), never in the clear.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

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

/**
 * What a sealed email leaves behind once its data key is destroyed:
 * `pdh.<hash>.<mac>`, its identity hash with a MAC under a key derived from
 * the workspace's identity key. A replay of the log links the shredded event
 * by that hash exactly as the stream did with the address; the MAC means no
 * sender can claim someone's hash by writing such a value into an event.
 */
const REFERENCE = /^pdh\.([A-Za-z0-9_-]{32})\.([A-Za-z0-9_-]{22})$/;

/** Emails as identity hashes, and their references, with each workspace's keys derived once. */
class EmailKeys {
  private readonly keys = new Map<string, { identity: Buffer; reference: Buffer }>();

  constructor(private readonly key: Buffer) {}

  private of(workspace: string): { identity: Buffer; reference: Buffer } {
    let k = this.keys.get(workspace);
    if (k === undefined) {
      const identity = workspaceIdentityKey(this.key, workspace);
      k = { identity, reference: createHmac('sha256', identity).update('portrait email reference', 'utf8').digest() };
      this.keys.set(workspace, k);
    }
    return k;
  }

  private mac(workspace: string, hash: string): string {
    return createHmac('sha256', this.of(workspace).reference).update(hash, 'utf8').digest('base64url').slice(0, 22);
  }

  /** The hash of an address, or of the address a genuine reference stands for; undefined for anything else. */
  hash(workspace: string, v: unknown): string | undefined {
    if (typeof v !== 'string') return undefined;
    const email = normalizeEmail(v);
    if (email !== undefined) return identityHash(this.of(workspace).identity, email);
    const ref = REFERENCE.exec(v);
    if (ref === null) return undefined;
    const given = Buffer.from(ref[2]!, 'utf8');
    const want = Buffer.from(this.mac(workspace, ref[1]!), 'utf8');
    return timingSafeEqual(given, want) ? ref[1] : undefined;
  }

  /** The reference of an address (or of a genuine reference: itself); undefined when it is neither. */
  reference(workspace: string, v: unknown): string | undefined {
    const hash = this.hash(workspace, v);
    return hash === undefined ? undefined : `pdh.${hash}.${this.mac(workspace, hash)}`;
  }
}

/**
 * Hashes emails (after normalising them) with each workspace's identity key;
 * a shredded email's reference (see `emailReferencer`) hashes to the hash of
 * its address.
 */
export function emailHasher(key: Buffer): (workspace: string, email: unknown) => string | undefined {
  const keys = new EmailKeys(key);
  return (workspace, v) => keys.hash(workspace, v);
}

/** Makes the reference an email leaves behind when it is shredded (undefined when the value is not an email). */
export function emailReferencer(key: Buffer): (workspace: string, email: unknown) => string | undefined {
  const keys = new EmailKeys(key);
  return (workspace, v) => keys.reference(workspace, v);
}
