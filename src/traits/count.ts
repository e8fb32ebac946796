/** count: how many matching events, whatever their value. State: the count (an integer, exact in a double up to 2^53). */
import type { Aggregator } from './aggregator.ts';

export function countAggregator(): Aggregator<number, number> {
  return {
    init: () => 0,
    add: (s) => s + 1,
    merge: (a, b) => a + b,
    value: (s) => s,
  };
}
