/**
 * first and last: the value of the earliest or latest matching event. Events
 * are ordered by (event time, messageId, canonical JSON of the value): a
 * total order, so arrival order never matters — even when a messageId is
 * seen twice with different content. The value is kept in canonical form
 * (sorted keys), so equal choices serialise to equal bytes.
 * State: { t: time, id: messageId, v: value } of the chosen event, or null.
 */
import type { Json } from '../core/event.ts';
import type { Aggregator } from './aggregator.ts';
import { canonicalJson, canonicalValue } from './canonical.ts';

export interface Stamped {
  t: number;
  id: string;
  v: Json;
}

/** Negative when the event (t, id, v) comes before the chosen one `s`. */
function order(t: number, id: string, v: Json, s: Stamped): number {
  if (t !== s.t) return t < s.t ? -1 : 1;
  if (id !== s.id) return id < s.id ? -1 : 1;
  // Only reached for a messageId seen twice at one time: rare, so the JSON cost is fine.
  const x = canonicalJson(v);
  const y = canonicalJson(s.v);
  return x < y ? -1 : x > y ? 1 : 0;
}

function chooser(earliest: boolean): Aggregator<Stamped | null, Json> {
  /** True when the event (t, id, v) should replace the chosen one `s`. */
  const better = (t: number, id: string, v: Json, s: Stamped) => (earliest ? order(t, id, v, s) < 0 : order(t, id, v, s) > 0);
  return {
    init: () => null,
    add: (s, input) => {
      const v = canonicalValue(input.value);
      if (v === undefined) return s;
      if (s === null) return { t: input.time, id: input.id, v };
      if (!better(input.time, input.id, v, s)) return s;
      // Mutate in place: add owns its state, and merge hands out fresh objects.
      s.t = input.time;
      s.id = input.id;
      s.v = v;
      return s;
    },
    merge: (a, b) => {
      const pick = a === null ? b : b === null ? a : better(b.t, b.id, b.v, a) ? b : a;
      return pick === null ? null : { t: pick.t, id: pick.id, v: pick.v };
    },
    value: (s) => (s === null ? null : s.v),
  };
}

export const firstAggregator = (): Aggregator<Stamped | null, Json> => chooser(true);
export const lastAggregator = (): Aggregator<Stamped | null, Json> => chooser(false);
