/**
 * first and last: the value of the earliest or latest matching event by
 * event time, ties broken by messageId, so arrival order never matters.
 * State: { t, id, v } of the chosen event, or null.
 */
import type { Json } from '../core/event.ts';
import type { Aggregator } from './aggregator.ts';

export interface Stamped {
  t: number;
  id: string;
  v: Json;
}

const before = (a: Stamped, b: Stamped) => (a.t !== b.t ? a.t < b.t : a.id < b.id);

function chooser(wantEarliest: boolean): Aggregator<Stamped | null, Json> {
  const better = (a: Stamped, b: Stamped) => (wantEarliest ? before(a, b) : before(b, a));
  const pick = (a: Stamped | null, b: Stamped | null) => (a === null ? b : b === null ? a : better(b, a) ? b : a);
  return {
    init: () => null,
    add: (s, input) => {
      if (input.value === undefined) return s;
      return pick(s, { t: input.time, id: input.id, v: input.value as Json });
    },
    merge: pick,
    value: (s) => (s === null ? null : s.v),
  };
}

export const firstAggregator = () => chooser(true);
export const lastAggregator = () => chooser(false);
