/**
 * Sealing the personal fields of an event with its owner's data key, and
 * opening them again. The fields sealed are those named in
 * `privacy.piiFields`, found as keys of `traits`, `context.traits` and
 * `properties`, or one level further down, inside an object held by one of
 * their keys (`properties.billing.email`). A sealed value is replaced by
 * one token, `pd1.<iv>.<ciphertext+tag>` (base64url), of the value's JSON;
 * its associated data binds it to its workspace, event and path.
 *
 * Opening without the key (shredded) removes the field and marks the event
 * `context.shredded: true`; the rest of the event reads as stored. An email
 * the identity graph links by (`EMAIL_PATHS`) is sealed with its reference
 * appended (`pd1.<iv>.<ciphertext+tag>.<hash>.<mac>`, see
 * src/ingest/email.ts): shredded, it leaves that reference in
 * `context.shreddedEmail`, so a replay links the event as the stream did.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Json, JsonObject, PortraitEvent } from '../core/event.ts';
import { EMAIL_PATHS, SHREDDED_EMAIL } from '../identity/index.ts';
import { pooledRandom } from './random-pool.ts';

/** Makes the reference a shredded email leaves (src/ingest/email.ts `emailReferencer`). */
export type EmailReferencer = (workspace: string, email: unknown) => string | undefined;

const PREFIX = 'pd1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The objects of an event whose keys may hold personal fields, with their path. */
function containers(e: PortraitEvent): Array<[path: string, obj: JsonObject]> {
  const out: Array<[string, JsonObject]> = [];
  if (isObject(e.traits)) out.push(['traits', e.traits]);
  if (isObject(e.properties)) out.push(['properties', e.properties]);
  const ct = e.context?.traits;
  if (isObject(ct)) out.push(['context.traits', ct]);
  return out;
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** True when the event carries a personal field (so it needs its owner's key). */
export function hasPersonalFields(e: PortraitEvent, fields: ReadonlySet<string>): boolean {
  for (const [, obj] of containers(e)) {
    for (const k in obj) {
      if (fields.has(k)) return true;
      const v = obj[k];
      if (isObject(v)) for (const k2 in v) if (fields.has(k2)) return true;
    }
  }
  return false;
}

/** True when the event holds a sealed field. */
export function hasSealedFields(e: PortraitEvent): boolean {
  for (const [, obj] of containers(e)) {
    for (const k in obj) {
      const v = obj[k];
      if (isToken(v)) return true;
      if (isObject(v)) for (const k2 in v) if (isToken(v[k2])) return true;
    }
  }
  return false;
}

/**
 * `pd1.` + a 12-byte IV (16 base64url characters) + `.` + at least the
 * 16-byte tag, then an email's reference without its `pdh` (a 32-character
 * hash and a 22-character MAC): text that merely starts with `pd1.` is not
 * taken for a token.
 */
const TOKEN = /^pd1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}(?:\.[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{22})?$/;
const linksByEmail: ReadonlySet<string> = new Set(EMAIL_PATHS);

function isToken(v: Json | undefined): v is string {
  return typeof v === 'string' && v.startsWith(PREFIX) && TOKEN.test(v);
}

/**
 * A copy of the event with its personal fields sealed under `key` (the
 * original is not changed); `reference`: appended to the emails the identity
 * graph links by.
 */
export function sealEvent(e: PortraitEvent, fields: ReadonlySet<string>, key: Buffer, reference?: EmailReferencer): PortraitEvent {
  return rewrite(e, (path, name, v) => {
    if (!fields.has(name) || isToken(v)) return v;
    const token = sealValue(key, aadOf(e, path), v);
    const ref = reference !== undefined && linksByEmail.has(path) ? reference(e.workspace, v) : undefined;
    return ref === undefined ? token : `${token}${ref.slice(3)}`;
  });
}

/** A copy of the event with its sealed fields opened; without a key (or with a token that fails), they are removed and the event is marked shredded. */
export function openEvent(e: PortraitEvent, key: Buffer | undefined): PortraitEvent {
  let shredded = false;
  let email: string | undefined;
  const out = rewrite(e, (path, _name, v) => {
    if (!isToken(v)) return v;
    const opened = key === undefined ? undefined : openValue(key, aadOf(e, path), v);
    if (opened === undefined) {
      shredded = true;
      // The first in EMAIL_PATHS' order, as the identity graph reads the addresses.
      if (linksByEmail.has(path)) email ??= referenceIn(v);
    }
    return opened;
  });
  if (shredded) out.context = { ...(out.context ?? {}), shredded: true, ...(email !== undefined && { [SHREDDED_EMAIL]: email }) };
  return out;
}

/** The email reference appended to a token, if any: `pdh.<hash>.<mac>`. */
function referenceIn(token: string): string | undefined {
  const parts = token.split('.');
  return parts.length === 5 ? `pdh.${parts[3]}.${parts[4]}` : undefined;
}

/**
 * Applies `f` to every key of the containers and one level inside their
 * object values; `undefined` removes the key. Copies only what changes.
 */
function rewrite(e: PortraitEvent, f: (path: string, name: string, v: Json) => Json | undefined): PortraitEvent {
  let out: PortraitEvent | undefined;
  for (const [path, obj] of containers(e)) {
    const next = rewriteObject(path, obj, f, true);
    if (next === obj) continue;
    out ??= { ...e };
    if (path === 'traits') out.traits = next;
    else if (path === 'properties') out.properties = next;
    else out.context = { ...out.context, traits: next };
  }
  return out ?? e;
}

function rewriteObject(path: string, obj: JsonObject, f: (path: string, name: string, v: Json) => Json | undefined, descend: boolean): JsonObject {
  let copy: JsonObject | undefined;
  for (const k of Object.keys(obj)) {
    const v = obj[k]!;
    const p = `${path}.${k}`;
    let next: Json | undefined = f(p, k, v);
    if (next === v && descend && isObject(v)) next = rewriteObject(p, v, f, false);
    if (next === v) continue;
    copy ??= { ...obj };
    if (next === undefined) delete copy[k];
    else copy[k] = next;
  }
  return copy ?? obj;
}

const aadOf = (e: PortraitEvent, path: string) => `${e.workspace}\0${e.messageId}\0${path}`;

function sealValue(key: Buffer, aad: string, v: Json): string {
  const iv = pooledRandom(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([c.update(JSON.stringify(v), 'utf8'), c.final(), c.getAuthTag()]);
  return `${PREFIX}${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/** The value, or undefined when the token does not open with this key. */
function openValue(key: Buffer, aad: string, token: string): Json | undefined {
  const [, ivText, bodyText] = token.split('.');
  if (ivText === undefined || bodyText === undefined) return undefined;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const text = Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]).toString('utf8');
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}
