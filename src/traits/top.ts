/**
 * top: the most frequent keys with their counts (top-k). Counts are kept
 * exactly per key so that merging stays exact. State: { key: count }.
 */
import type { Aggregator } from './aggregator.ts';

export type TopState = Record<string, number>;

export function topAggregator(k = 5): Aggregator<TopState, Array<{ key: string; count: number }>> {
  return {
    init: () => ({}),
    add: (s, input) => {
      if (input.key === undefined) return s;
      s[input.key] = (s[input.key] ?? 0) + 1;
      return s;
    },
    merge: (a, b) => {
      const out: TopState = { ...a };
      for (const [key, n] of Object.entries(b)) out[key] = (out[key] ?? 0) + n;
      return out;
    },
    value: (s) =>
      Object.entries(s)
        .sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : 1))
        .slice(0, k)
        .map(([key, count]) => ({ key, count })),
  };
}
