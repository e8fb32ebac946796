/**
 * top: the most frequent keys with their counts (top-k). Every key's count is
 * kept exactly — a truncated list could not be merged exactly — so the state
 * grows with the number of different keys; pick keys with bounded variety
 * (categories, not URLs). State: [[key, count], …] sorted by key.
 * Value: the k entries [{ key, count }] with the highest counts, ties by key.
 */
import type { Aggregator } from './aggregator.ts';
import type { TraitDefinition } from './definition.ts';
import { mergePairs, upsert, type Pairs } from './sorted-pairs.ts';

export type TopState = Pairs<string, number>;
export interface TopEntry {
  key: string;
  count: number;
}

export const DEFAULT_TOP_K = 5;

const zero = () => 0;
const add = (x: number, y: number) => x + y;
const same = (x: number) => x;

export function topAggregator(def: Pick<TraitDefinition, 'k'> = {}): Aggregator<TopState, TopEntry[]> {
  const k = def.k ?? DEFAULT_TOP_K;
  return {
    init: () => [],
    add: (s, input) => {
      if (input.key === undefined) return s;
      upsert(s, input.key, zero)[1] += 1;
      return s;
    },
    merge: (a, b) => mergePairs(a, b, add, same),
    value: (s) =>
      [...s]
        .sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
        .slice(0, k)
        .map(([key, count]) => ({ key, count })),
  };
}
