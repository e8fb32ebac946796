/**
 * window_count and window_sum: how many matching events, or the total of a
 * value, over the last `window` before now. Events fall into buckets of an
 * hour or a day (UTC, bucket number = ⌊time ÷ bucket⌋).
 *
 * The window rule, bucket-aligned: value(now) adds the buckets from the one
 * containing now − window up to the one containing now. So an event counts
 * from its time until at most one bucket past `window` after it (a 7-day
 * window with day buckets covers 7 to 8 days); events in buckets after now's
 * bucket (future-dated) do not count yet.
 *
 * To stay bounded the state keeps only buckets from the one containing
 * (newest event time − window) minus one bucket. That threshold depends only
 * on the events seen, never on their arrival order, so neither does the state.
 * State: { b: [[bucketNumber, count | micro-units], …] ascending, m: newest event time | null }.
 */
import type { Aggregator } from './aggregator.ts';
import type { TraitDefinition } from './definition.ts';
import { bucketMs, requireDuration } from './duration.ts';
import { addMicro, fromMicro, toMicro, toNumber, type Micro } from './numbers.ts';
import { lowerBound, mergePairs, upsert, type Pairs } from './sorted-pairs.ts';

export interface WindowState {
  b: Pairs<number, Micro>;
  m: number | null;
}

type WindowDefinition = Pick<TraitDefinition, 'name' | 'kind' | 'window' | 'bucket'>;

const zero = (): Micro => 0;
const same = (x: Micro) => x;

function windowAggregator(def: WindowDefinition, sum: boolean): Aggregator<WindowState, number> {
  const window = requireDuration(def, 'window', def.window);
  const bucket = bucketMs(def.bucket);
  /** The oldest bucket number kept once the newest event time is `m`. */
  const oldestKept = (m: number) => Math.floor((m - window) / bucket) - 1;
  const dropBefore = (s: WindowState, min: number) => {
    const i = lowerBound(s.b, min);
    if (i > 0) s.b.splice(0, i);
  };
  return {
    init: () => ({ b: [], m: null }),
    add: (s, input) => {
      let amount: Micro = 1;
      if (sum) {
        const n = toNumber(input.value);
        if (n === undefined) return s;
        amount = toMicro(n);
      }
      if (s.m === null || input.time > s.m) {
        const before = s.m === null ? -Infinity : oldestKept(s.m);
        s.m = input.time;
        // The threshold moves once per bucket, not per event: prune only then.
        if (oldestKept(s.m) > before) dropBefore(s, oldestKept(s.m));
      }
      const k = Math.floor(input.time / bucket);
      if (k < oldestKept(s.m)) return s; // already too old to ever count
      const pair = upsert(s.b, k, zero);
      pair[1] = addMicro(pair[1], amount);
      return s;
    },
    merge: (a, b) => {
      const m = a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m);
      const out: WindowState = { b: mergePairs(a.b, b.b, addMicro, same), m };
      if (m !== null) dropBefore(out, oldestKept(m));
      return out;
    },
    value: (s, now) => {
      const last = Math.floor(now / bucket);
      let total: Micro = 0;
      for (let i = lowerBound(s.b, Math.floor((now - window) / bucket)); i < s.b.length; i++) {
        const [k, amount] = s.b[i]!;
        if (k > last) break;
        total = addMicro(total, amount);
      }
      return sum ? fromMicro(total) : Number(total);
    },
  };
}

export const windowCountAggregator = (def: WindowDefinition): Aggregator<WindowState, number> => windowAggregator(def, false);
export const windowSumAggregator = (def: WindowDefinition): Aggregator<WindowState, number> => windowAggregator(def, true);
