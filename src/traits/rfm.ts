/**
 * rfm: the recency, frequency and monetary parts of an RFM score, from the
 * matching (purchase) events. Every matching event counts towards recency and
 * frequency; only numeric values add to the monetary total (an order without
 * a price is still an order).
 * State: { l: latest event time | null, n: event count, s: monetary micro-units }.
 * Value: { recencyDays (days since the latest event, 2 decimals), frequency, monetary, lastSeen (ISO time) }.
 */
import { DAY } from '../core/clock.ts';
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, toMicro, toNumber, type Micro } from './numbers.ts';

export interface RfmState {
  l: number | null;
  n: number;
  s: Micro;
}

export interface RfmValue {
  recencyDays: number | null;
  frequency: number;
  monetary: number;
  lastSeen: string | null;
}

export function rfmAggregator(): Aggregator<RfmState, RfmValue> {
  return {
    init: () => ({ l: null, n: 0, s: 0 }),
    add: (st, input) => {
      st.n += 1;
      if (st.l === null || input.time > st.l) st.l = input.time;
      const v = toNumber(input.value);
      if (v !== undefined) st.s = addMicro(st.s, toMicro(v));
      return st;
    },
    merge: (a, b) => ({ l: a.l === null ? b.l : b.l === null ? a.l : Math.max(a.l, b.l), n: a.n + b.n, s: addMicro(a.s, b.s) }),
    value: (st, now) => ({
      recencyDays: st.l === null ? null : Math.round(((now - st.l) / DAY) * 100) / 100 || 0,
      frequency: st.n,
      monetary: fromMicro(st.s),
      lastSeen: st.l === null ? null : new Date(st.l).toISOString(),
    }),
  };
}
