/**
 * Maps kept as arrays of [key, value] pairs sorted by key: the canonical
 * form for states keyed by user data or by bucket number. An object would
 * serialise its keys in insertion order (and treat "__proto__" specially), so
 * two states with equal content could differ in bytes; a sorted array cannot.
 */

export type Pairs<K extends string | number, V> = Array<[K, V]>;

/**
 * The index of `key`, or −(insertion point) − 1 when absent. Checks the last
 * pair first: events mostly arrive in time order, so new buckets append.
 */
export function search<K extends string | number>(pairs: ReadonlyArray<readonly [K, unknown]>, key: K): number {
  let hi = pairs.length;
  if (hi === 0) return -1;
  const last = pairs[hi - 1]![0];
  if (key > last) return -hi - 1;
  if (key === last) return hi - 1;
  let lo = 0;
  hi -= 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = pairs[mid]![0];
    if (k < key) lo = mid + 1;
    else if (k > key) hi = mid;
    else return mid;
  }
  return -lo - 1;
}

/** The pair for `key`, inserted with `make()` when absent. Mutates `pairs`. */
export function upsert<K extends string | number, V>(pairs: Pairs<K, V>, key: K, make: () => V): [K, V] {
  const i = search(pairs, key);
  if (i >= 0) return pairs[i]!;
  const pair: [K, V] = [key, make()];
  pairs.splice(-i - 1, 0, pair);
  return pair;
}

/**
 * A new sorted array holding every key of `a` and `b`: `combine` for keys in
 * both, `copy` for keys in one. Neither input is changed, and the result
 * shares no mutable pair with them.
 */
export function mergePairs<K extends string | number, V>(
  a: ReadonlyArray<readonly [K, V]>,
  b: ReadonlyArray<readonly [K, V]>,
  combine: (x: V, y: V) => V,
  copy: (x: V) => V,
): Pairs<K, V> {
  const out: Pairs<K, V> = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [ka, va] = a[i]!;
    const [kb, vb] = b[j]!;
    if (ka < kb) {
      out.push([ka, copy(va)]);
      i++;
    } else if (kb < ka) {
      out.push([kb, copy(vb)]);
      j++;
    } else {
      out.push([ka, combine(va, vb)]);
      i++;
      j++;
    }
  }
  for (; i < a.length; i++) out.push([a[i]![0], copy(a[i]![1])]);
  for (; j < b.length; j++) out.push([b[j]![0], copy(b[j]![1])]);
  return out;
}

/** The index of the first pair whose key is ≥ `key` (all pairs when none is smaller). */
export function lowerBound<K extends string | number>(pairs: ReadonlyArray<readonly [K, unknown]>, key: K): number {
  const i = search(pairs, key);
  return i >= 0 ? i : -i - 1;
}
