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

/**
 * Whether two values are the same: equal primitives, or objects and arrays
 * that serialise to the same JSON text. Compared in place, without building
 * the texts: the engine compares every changed trait value (score maps,
 * top-k lists) before and after every event.
 */
export function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  // A number that is not finite is written as null (a score read where it overflows, say).
  if (typeof a === 'number' && !Number.isFinite(a)) a = null;
  if (typeof b === 'number' && !Number.isFinite(b)) b = null;
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  return sameText(a, b);
}

/** What JSON.stringify writes for a value inside an object or array: `skip` for one it leaves out of an object. */
const SKIP = Symbol('skip');

function serialised(v: unknown): unknown {
  switch (typeof v) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return SKIP;
    case 'number':
      return Number.isFinite(v) ? v : null;
    default:
      return v;
  }
}

/** JSON.stringify(x) === JSON.stringify(y), for two values inside JSON (already serialised by `serialised`). */
function sameText(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  // Anything that serialises itself (a Date, say) is compared by its text.
  if (typeof (x as { toJSON?: unknown }).toJSON === 'function' || typeof (y as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(x) === JSON.stringify(y);
  const xa = Array.isArray(x);
  if (xa !== Array.isArray(y)) return false;
  if (xa) {
    const xs = x as unknown[];
    const ys = y as unknown[];
    if (xs.length !== ys.length) return false;
    for (let i = 0; i < xs.length; i++) {
      const u = serialised(xs[i]);
      const w = serialised(ys[i]);
      if (!sameText(u === SKIP ? null : u, w === SKIP ? null : w)) return false;
    }
    return true;
  }
  // Objects: the same keys (those written) in the same order, with the same values.
  const xo = x as Record<string, unknown>;
  const yo = y as Record<string, unknown>;
  const xk = Object.keys(xo);
  const yk = Object.keys(yo);
  let i = 0;
  let j = 0;
  for (;;) {
    let u: unknown = SKIP;
    while (i < xk.length && (u = serialised(xo[xk[i]!])) === SKIP) i++;
    let w: unknown = SKIP;
    while (j < yk.length && (w = serialised(yo[yk[j]!])) === SKIP) j++;
    if (i >= xk.length || j >= yk.length) return i >= xk.length && j >= yk.length;
    if (xk[i] !== yk[j] || !sameText(u, w)) return false;
    i++;
    j++;
  }
}
