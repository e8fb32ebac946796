/**
 * Canonical forms of event values, so that equal content gives equal bytes
 * whatever key order the sender used. Keys such as "__proto__" and
 * "constructor" are ordinary data here: they are copied as own properties and
 * never read through the prototype.
 */
import type { Json } from '../core/event.ts';

/** A deep copy of a JSON value with object keys sorted at every level and -0 as 0; undefined for non-JSON values. */
export function canonicalValue(v: unknown): Json | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x) => canonicalValue(x) ?? null);
      const out: { [key: string]: Json } = {};
      for (const k of Object.keys(v).sort()) {
        const x = canonicalValue((v as Record<string, unknown>)[k]);
        if (x !== undefined) setOwnKey(out, k, x);
      }
      return out;
    }
    default:
      return undefined;
  }
}

/** Sets `key` on `o` as its own data property: a key named "__proto__" is defined, not assigned (which would set the prototype). */
export function setOwnKey<T>(o: Record<string, T>, key: string, v: T): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
  else o[key] = v;
}

/** JSON with object keys sorted at every level: equal content, equal string. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(canonicalValue(v) ?? null);
}

/**
 * The string form of a value used as a key (top, decayed) or a distinct
 * item: strings as they are, numbers and booleans as text, objects and
 * arrays as canonical JSON. Null and undefined have none.
 */
export function keyOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v === 0 ? 0 : v) : undefined;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'object') return canonicalJson(v);
  return undefined;
}
