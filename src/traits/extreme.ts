/**
 * min and max of a numeric value. State: the extreme so far, or null before
 * any numeric value. Choosing an extreme is exact (no arithmetic), so the
 * values are kept as sent; non-numeric values are ignored.
 */
import type { Aggregator } from './aggregator.ts';
import { toNumber } from './numbers.ts';

function extreme(pick: (a: number, b: number) => number): Aggregator<number | null, number | null> {
  return {
    init: () => null,
    add: (s, input) => {
      const v = toNumber(input.value);
      if (v === undefined) return s;
      return s === null ? v : pick(s, v);
    },
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
    value: (s) => s,
  };
}

export const minAggregator = (): Aggregator<number | null, number | null> => extreme(Math.min);
export const maxAggregator = (): Aggregator<number | null, number | null> => extreme(Math.max);
