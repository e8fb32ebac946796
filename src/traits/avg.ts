/**
 * avg: the mean of a numeric value. State: { s: exact sum in micro-units,
 * n: how many values } — both order-free; the division happens only when read.
 * Value: the mean rounded to 6 decimals, or null before any numeric value.
 */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, round6, toMicro, toNumber, type Micro } from './numbers.ts';

export interface AvgState {
  s: Micro;
  n: number;
}

export function avgAggregator(): Aggregator<AvgState, number | null> {
  return {
    init: () => ({ s: 0, n: 0 }),
    add: (st, input) => {
      const v = toNumber(input.value);
      if (v === undefined) return st;
      st.s = addMicro(st.s, toMicro(v));
      st.n += 1;
      return st;
    },
    merge: (a, b) => ({ s: addMicro(a.s, b.s), n: a.n + b.n }),
    value: (st) => (st.n === 0 ? null : round6(fromMicro(st.s) / st.n)),
  };
}
