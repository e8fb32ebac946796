/** sum: the total of a numeric value, exact to 6 decimals. State: micro-units (see numbers.ts); non-numeric values are ignored. */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, toMicro, toNumber, type Micro } from './numbers.ts';

export function sumAggregator(): Aggregator<Micro, number> {
  return {
    init: () => 0,
    add: (s, input) => {
      const n = toNumber(input.value);
      return n === undefined ? s : addMicro(s, toMicro(n));
    },
    merge: addMicro,
    value: fromMicro,
  };
}
