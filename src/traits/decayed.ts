/**
 * decayed: a time-decayed score per key (interest per category, say). Each
 * event adds weight × value (weight alone when the definition has no value
 * path) to its key; a contribution halves every `halfLife`.
 *
 * Decay is applied only when read, so the state holds exact sums per key and
 * time bucket (default an hour) and stays order-free; within a bucket every
 * contribution counts from the bucket's start. Buckets older than the newest
 * event time minus 40 half-lives (under 1e-12 of their weight) are dropped.
 * State: { k: [[key, [[bucketNumber, micro-units], …]], …] both sorted, m: newest event time | null }.
 * Value: { key: Σ amount × 2^(−(now − bucketStart) ÷ halfLife) } rounded to
 * 6 decimals, highest score first (ties by key), the top `k` when set.
 */
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import type { TraitDefinition } from './definition.ts';
import { bucketMs, requireDuration } from './duration.ts';
import { addMicro, fromMicro, round6, toMicro, toNumber, type Micro } from './numbers.ts';
import { lowerBound, mergePairs, search, upsert, type Pairs } from './sorted-pairs.ts';
import { setOwnKey } from './canonical.ts';

type Buckets = Pairs<number, Micro>;

export interface DecayedState {
  k: Pairs<string, Buckets>;
  m: number | null;
}

const none = (): Buckets => [];
const same = (x: Micro) => x;
const addBuckets = (x: Buckets, y: Buckets) => mergePairs(x, y, addMicro, same);
const copyBuckets = (x: Buckets): Buckets => x.map(([k, v]) => [k, v]);

/** Keeps keys that still have buckets from `min` on; mutates `s`. */
function dropBefore(s: DecayedState, min: number): void {
  let w = 0;
  for (const pair of s.k) {
    const buckets = pair[1];
    const i = lowerBound(buckets, min);
    if (i > 0) buckets.splice(0, i);
    if (buckets.length > 0) s.k[w++] = pair;
  }
  s.k.length = w;
}

const asWritten = (n: number | undefined): number | null | undefined => (n === undefined || Number.isFinite(n) ? n : null);

export function decayedAggregator(def: Pick<TraitDefinition, 'name' | 'kind' | 'halfLife' | 'bucket' | 'value' | 'k'>): Aggregator<DecayedState, Record<string, number>> {
  const halfLife = requireDuration(def, 'halfLife', def.halfLife);
  const bucket = bucketMs(def.bucket);
  const hasValue = def.value !== undefined;
  const limit = def.k;
  const oldestKept = (m: number) => Math.floor((m - 40 * halfLife) / bucket);
  /**
   * One key's score at `now`, unrounded: buckets in ascending order, so equal states give the same float sum.
   * A bucket holding 0 adds nothing (read long before a future bucket, 0 × ∞ would read NaN).
   */
  const scoreAt = (buckets: Buckets, now: number): number => {
    let score = 0;
    for (let j = 0; j < buckets.length; j++) {
      const b = buckets[j]!;
      if (b[1] === 0) continue;
      score += fromMicro(b[1]) * 2 ** (-(now - b[0] * bucket) / halfLife);
    }
    return score;
  };
  /** The rounded score `value()` shows for `key` at `now`, undefined when the state has no such key. */
  const keyValue = (s: DecayedState, key: string, now: number): number | undefined => {
    const i = search(s.k, key);
    return i < 0 ? undefined : round6(scoreAt(s.k[i]![1], now));
  };
  /** Whether folding an input at `time` would prune a bucket: pruning may change other keys' values. */
  const wouldPrune = (s: DecayedState, time: number): boolean => {
    if (s.m === null) return s.k.length > 0;
    if (time <= s.m || oldestKept(time) <= oldestKept(s.m)) return false;
    const min = oldestKept(time);
    for (const pair of s.k) if (pair[1].length > 0 && pair[1][0]![0] < min) return true;
    return false;
  };
  const add = (s: DecayedState, input: AggregatorInput): DecayedState => {
    if (input.key === undefined) return s;
    const v = hasValue ? toNumber(input.value) : 1;
    if (v === undefined) return s;
    if (s.m === null || input.time > s.m) {
      const before = s.m === null ? -Infinity : oldestKept(s.m);
      s.m = input.time;
      // The threshold moves once per bucket, not per event: prune only then.
      if (oldestKept(s.m) > before) dropBefore(s, oldestKept(s.m));
    }
    const b = Math.floor(input.time / bucket);
    if (b < oldestKept(s.m)) return s; // too old to matter, and would be pruned anyway
    const pair = upsert(upsert(s.k, input.key, none)[1], b, () => 0 as Micro);
    pair[1] = addMicro(pair[1], toMicro(v * input.weight));
    return s;
  };
  return {
    init: () => ({ k: [], m: null }),
    add,
    // Without pruning and without a top `k`, an input changes its own key's score and no other.
    addReporting: (s, input, now) => {
      if (limit !== undefined || wouldPrune(s, input.time)) return undefined;
      const key = input.key;
      if (key === undefined) return { state: s, change: {} };
      const old = keyValue(s, key, now);
      const state = add(s, input);
      const neu = keyValue(state, key, now);
      // Compared as written: a score that is not finite (read where it overflows) is written as null.
      if (asWritten(old) === asWritten(neu)) return { state, change: {} };
      const change: Record<string, [unknown, unknown]> = {};
      setOwnKey(change, key, [old, neu]);
      return { state, change };
    },
    merge: (a, b) => {
      const m = a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m);
      const out: DecayedState = { k: mergePairs(a.k, b.k, addBuckets, copyBuckets), m };
      if (m !== null) dropBefore(out, oldestKept(m));
      return out;
    },
    value: (s, now) => {
      // Parallel arrays and an index sort: no pair per key (this runs twice per matching event, for the history).
      const pairs = s.k;
      const n = pairs.length;
      const keys: string[] = new Array(n);
      const scores: number[] = new Array(n);
      const order: number[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const pair = pairs[i]!;
        const buckets = pair[1];
        keys[i] = pair[0];
        scores[i] = round6(scoreAt(buckets, now));
        order[i] = i;
      }
      // Highest score first; ties by key, which is index order (the pairs are sorted by key).
      order.sort((x, y) => (scores[y] !== scores[x] ? scores[y]! - scores[x]! : x - y));
      const out: Record<string, number> = {};
      const count = limit === undefined ? n : Math.min(limit, n);
      for (let i = 0; i < count; i++) {
        const key = keys[order[i]!]!;
        const score = scores[order[i]!]!;
        setOwnKey(out, key, score);
      }
      return out;
    },
  };
}
