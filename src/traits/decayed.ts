/**
 * decayed: a time-decayed score per key (interest per category, say). Each
 * event adds weight × value (1 when the definition has no value path) to its
 * key; a contribution halves every `halfLife`. The state keeps exact sums per
 * key and time bucket, and decay is applied when read, so the state is
 * order-free. Buckets older than 40 half-lives before the newest event
 * contribute under 1e-12 of their weight and are dropped.
 * State: { k: { key: { bucketStart: micro-units } }, m: newest event time }.
 */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, round6, toMicro, toNumber } from './numbers.ts';

export interface DecayedState {
  k: Record<string, Record<string, string>>;
  m: number | null;
}

function prune(s: DecayedState, halfLife: number): DecayedState {
  if (s.m === null) return s;
  const threshold = s.m - 40 * halfLife;
  for (const key of Object.keys(s.k)) {
    const buckets = s.k[key]!;
    for (const b of Object.keys(buckets)) if (Number(b) < threshold) delete buckets[b];
    if (Object.keys(buckets).length === 0) delete s.k[key];
  }
  return s;
}

export function decayedAggregator(halfLife: number, bucket: number, hasValue: boolean, k?: number): Aggregator<DecayedState, Record<string, number>> {
  return {
    init: () => ({ k: {}, m: null }),
    add: (s, input) => {
      if (input.key === undefined) return s;
      const v = hasValue ? toNumber(input.value) : 1;
      if (v === undefined) return s;
      const amount = toMicro(v * input.weight);
      const b = String(Math.floor(input.time / bucket) * bucket);
      const buckets = (s.k[input.key] ??= {});
      buckets[b] = addMicro(buckets[b] ?? '0', amount);
      if (s.m === null || input.time > s.m) {
        s.m = input.time;
        return prune(s, halfLife);
      }
      // The newest time did not move: only the new bucket can be past the threshold.
      if (Number(b) < s.m - 40 * halfLife) {
        delete buckets[b];
        if (Object.keys(buckets).length === 0) delete s.k[input.key];
      }
      return s;
    },
    merge: (a, b) => {
      const out: DecayedState = { k: {}, m: a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m) };
      for (const src of [a, b]) {
        for (const [key, buckets] of Object.entries(src.k)) {
          const dst = (out.k[key] ??= {});
          for (const [bk, v] of Object.entries(buckets)) dst[bk] = addMicro(dst[bk] ?? '0', v);
        }
      }
      return prune(out, halfLife);
    },
    value: (s, now) => {
      const scores: Array<[string, number]> = [];
      for (const key of Object.keys(s.k).sort()) {
        const buckets = s.k[key]!;
        let score = 0;
        for (const b of Object.keys(buckets).sort()) score += fromMicro(buckets[b]!) * 2 ** (-(now - Number(b)) / halfLife);
        scores.push([key, round6(score)]);
      }
      scores.sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : 1));
      const out: Record<string, number> = {};
      for (const [key, score] of k === undefined ? scores : scores.slice(0, k)) out[key] = score;
      return out;
    },
  };
}
