/**
 * decayed: a time-decayed score per key (interest per category, say). Each
 * event adds weight × value (1 when the definition has no value path) to its
 * key; a contribution halves every `halfLife`. The state keeps exact sums per
 * key and time bucket (bucket number = time ÷ bucket length, an integer key
 * objects keep in ascending order), and decay is applied when read, so the
 * state is order-free. Buckets older than 40 half-lives before the newest
 * event contribute under 1e-12 of their weight and are dropped.
 * State: { k: { key: { bucketNumber: micro-units } }, m: newest event time }.
 */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, round6, toMicro, toNumber, type Micro } from './numbers.ts';

export interface DecayedState {
  k: Record<string, Record<number, Micro>>;
  m: number | null;
}

export function decayedAggregator(halfLife: number, bucket: number, hasValue: boolean, k?: number): Aggregator<DecayedState, Record<string, number>> {
  const oldestKept = (m: number) => Math.floor((m - 40 * halfLife) / bucket);
  const prune = (s: DecayedState): DecayedState => {
    if (s.m === null) return s;
    const min = oldestKept(s.m);
    for (const key in s.k) {
      const buckets = s.k[key]!;
      let left = 0;
      for (const b in buckets) {
        if (Number(b) < min) delete buckets[b];
        else left++;
      }
      if (left === 0) delete s.k[key];
    }
    return s;
  };
  return {
    init: () => ({ k: {}, m: null }),
    add: (s, input) => {
      if (input.key === undefined) return s;
      const v = hasValue ? toNumber(input.value) : 1;
      if (v === undefined) return s;
      const b = Math.floor(input.time / bucket);
      const buckets = (s.k[input.key] ??= {});
      buckets[b] = addMicro(buckets[b] ?? 0, toMicro(v * input.weight));
      if (s.m === null || input.time > s.m) {
        s.m = input.time;
        return prune(s);
      }
      // The newest time did not move: only the new bucket can be past the threshold.
      if (b < oldestKept(s.m)) {
        delete buckets[b];
        if (Object.keys(buckets).length === 0) delete s.k[input.key];
      }
      return s;
    },
    merge: (a, b) => {
      const out: DecayedState = { k: {}, m: a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m) };
      for (const src of [a, b]) {
        for (const key in src.k) {
          const from = src.k[key]!;
          const dst = (out.k[key] ??= {});
          for (const bk in from) dst[bk] = addMicro(dst[bk] ?? 0, from[bk]!);
        }
      }
      return prune(out);
    },
    value: (s, now) => {
      const scores: Array<[string, number]> = [];
      for (const key in s.k) {
        const buckets = s.k[key]!;
        let score = 0;
        // Integer keys iterate in ascending order: the float sum is the same for equal states.
        for (const b in buckets) score += fromMicro(buckets[b]!) * 2 ** (-(now - Number(b) * bucket) / halfLife);
        scores.push([key, round6(score)]);
      }
      scores.sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : 1));
      const out: Record<string, number> = {};
      for (const [key, score] of k === undefined ? scores : scores.slice(0, k)) out[key] = score;
      return out;
    },
  };
}
