/**
 * distinct: how many different values. Exact (a sorted set) up to
 * `exactLimit` values, then a HyperLogLog sketch. Both the switch and the
 * sketch depend only on the set of values seen, so the state is order-free.
 * State: { x: sorted values } or { h: base64 registers }.
 */
import type { Aggregator } from './aggregator.ts';
import { hllAdd, hllDecode, hllEmpty, hllEncode, hllEstimate, hllMerge } from './hll.ts';
import { keyOf } from './numbers.ts';

export type DistinctState = { x: string[] } | { h: string };

function insertSorted(xs: string[], v: string): boolean {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (xs[lo] === v) return false;
  xs.splice(lo, 0, v);
  return true;
}

function sketchOf(xs: readonly string[]): Uint8Array {
  const reg = hllEmpty();
  for (const x of xs) hllAdd(reg, x);
  return reg;
}

export function distinctAggregator(exactLimit = 1000): Aggregator<DistinctState, number> {
  return {
    init: () => ({ x: [] }),
    add: (s, input) => {
      const v = keyOf(input.value);
      if (v === undefined) return s;
      if ('h' in s) {
        const reg = hllDecode(s.h);
        hllAdd(reg, v);
        return { h: hllEncode(reg) };
      }
      insertSorted(s.x, v);
      return s.x.length > exactLimit ? { h: hllEncode(sketchOf(s.x)) } : s;
    },
    merge: (a, b) => {
      if ('x' in a && 'x' in b) {
        const set = [...a.x];
        for (const v of b.x) insertSorted(set, v);
        return set.length > exactLimit ? { h: hllEncode(sketchOf(set)) } : { x: set };
      }
      const ra = 'h' in a ? hllDecode(a.h) : sketchOf(a.x);
      const rb = 'h' in b ? hllDecode(b.h) : sketchOf(b.x);
      return { h: hllEncode(hllMerge(ra, rb)) };
    },
    value: (s) => ('x' in s ? s.x.length : hllEstimate(hllDecode(s.h))),
  };
}
