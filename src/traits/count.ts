/** count: how many matching events. State: the count. */
import type { Aggregator } from './aggregator.ts';

export function countAggregator(): Aggregator<number, number> {
  return {
    init: () => 0,
    add: (s) => s + 1,
    merge: (a, b) => a + b,
    value: (s) => s,
  };
}
