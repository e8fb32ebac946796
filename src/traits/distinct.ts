/**
 * distinct: how many different values. Exact (a sorted set of their string
 * forms, see keyOf) up to `exactLimit` values, then a HyperLogLog sketch. The
 * switch happens exactly when the set of values seen passes the limit, and the
 * sketch of a set does not depend on order, so neither does the state.
 * State: { x: sorted values } or { h: base64 registers }.
 * Value: the exact count, or the sketch's estimate.
 */
import type { Aggregator } from './aggregator.ts';
import { keyOf } from './canonical.ts';
import type { TraitDefinition } from './definition.ts';
import { hllAdd, hllDecode, hllEmpty, hllEncode, hllEstimate, hllMerge } from './hll.ts';

export type DistinctState = { x: string[] } | { h: string };

export const DEFAULT_EXACT_LIMIT = 1000;

/** Inserts into a sorted array unless present. */
function insertSorted(xs: string[], v: string): void {
  let lo = 0;
  let hi = xs.length;
  if (hi > 0 && v > xs[hi - 1]!) lo = hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (xs[lo] !== v) xs.splice(lo, 0, v);
}

function sketchOf(xs: readonly string[]): Uint8Array {
  const reg = hllEmpty();
  for (const x of xs) hllAdd(reg, x);
  return reg;
}

/**
 * Decoded registers of sketch states, so adding to a sketch does not decode
 * 16 KB per event. Keyed by the state object and checked against its current
 * encoding, so a state changed or copied elsewhere is simply decoded again.
 */
const decoded = new WeakMap<object, { h: string; reg: Uint8Array }>();

function decode(s: { h: string }): { h: string; reg: Uint8Array } {
  const hit = decoded.get(s);
  if (hit !== undefined && hit.h === s.h) return hit;
  const entry = { h: s.h, reg: hllDecode(s.h) };
  decoded.set(s, entry);
  return entry;
}

export function distinctAggregator(def: Pick<TraitDefinition, 'exactLimit'> = {}): Aggregator<DistinctState, number> {
  const limit = def.exactLimit ?? DEFAULT_EXACT_LIMIT;
  return {
    init: () => ({ x: [] }),
    add: (s, input) => {
      const v = keyOf(input.value);
      if (v === undefined) return s;
      if ('h' in s) {
        const entry = decode(s);
        // Once the sketch fills up, most adds change no register: skip re-encoding then.
        if (hllAdd(entry.reg, v)) s.h = entry.h = hllEncode(entry.reg);
        return s;
      }
      insertSorted(s.x, v);
      return s.x.length > limit ? { h: hllEncode(sketchOf(s.x)) } : s;
    },
    merge: (a, b) => {
      if ('x' in a && 'x' in b) {
        const set = mergeSorted(a.x, b.x);
        return set.length > limit ? { h: hllEncode(sketchOf(set)) } : { x: set };
      }
      const ra = 'h' in a ? decode(a).reg : sketchOf(a.x);
      const rb = 'h' in b ? decode(b).reg : sketchOf(b.x);
      return { h: hllEncode(hllMerge(ra, rb)) };
    },
    value: (s) => ('x' in s ? s.x.length : hllEstimate(decode(s).reg)),
  };
}

/** The sorted union of two sorted arrays, as a new array. */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x <= y) {
      out.push(x);
      i++;
      if (x === y) j++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}
