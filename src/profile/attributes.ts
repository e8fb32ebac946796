/**
 * Attribute rules. Last-write-wins by event time (ties broken by messageId),
 * so a late event carrying an older value never overwrites a newer one; a
 * set-once attribute keeps the earliest value. A value a message writes
 * "only if not set" (named in its `context.setOnce`) ranks below every
 * ordinary write, and among such values the earliest wins. All of these
 * pick a maximum in one total order, so they are order-insensitive and two
 * profiles' attributes merge like any other summary.
 */
import type { Json } from '../core/event.ts';
import type { AttributeValue } from '../core/profile.ts';

export type AttributeType = 'string' | 'number' | 'boolean' | 'object' | 'array';

export interface AttributePolicy {
  setOnce: ReadonlySet<string>;
  types: Readonly<Record<string, AttributeType>>;
}

export const defaultAttributePolicy: AttributePolicy = { setOnce: new Set(), types: {} };

/** True when (t1, id1) is later than (t2, id2). */
export function isLater(t1: number, id1: string, t2: number, id2: string): boolean {
  return t1 !== t2 ? t1 > t2 : id1 > id2;
}

/** Which of two values for one attribute survives. */
export function pickAttribute(name: string, a: AttributeValue, b: AttributeValue, policy: AttributePolicy): AttributeValue {
  const bLater = isLater(b.t, b.id, a.t, a.id);
  if (policy.setOnce.has(name)) return bLater ? a : b;
  const aOnce = a.o === 1;
  const bOnce = b.o === 1;
  if (aOnce !== bOnce) return aOnce ? b : a;
  if (aOnce) return bLater ? a : b;
  return bLater ? b : a;
}

/** Whether the earliest of two values wins for this attribute and these writes. */
export function earliestWins(name: string, a: AttributeValue, b: AttributeValue, policy: AttributePolicy): boolean {
  return policy.setOnce.has(name) || (a.o === 1 && b.o === 1);
}

/** Coerces a value to the declared type when that loses nothing; undefined when it cannot. */
export function coerce(value: Json, type: AttributeType | undefined): Json | undefined {
  if (type === undefined || value === null) return value;
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
      if (typeof value === 'string' && value.trim() !== '') {
        const n = Number(value);
        return Number.isFinite(n) ? n : undefined;
      }
      return undefined;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true') return true;
      if (value === 'false') return false;
      return undefined;
    case 'object':
      return typeof value === 'object' && !Array.isArray(value) ? value : undefined;
    case 'array':
      return Array.isArray(value) ? value : undefined;
    default: {
      const never: never = type;
      return never;
    }
  }
}

export function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
