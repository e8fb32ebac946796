/**
 * window_count and window_sum: how many matching events, or the total of a
 * value, over the last `window` before now. Events fall into buckets (hours
 * or days, UTC), keyed by bucket number (time ÷ bucket length): integer keys,
 * which objects keep in ascending order, so the state serialises canonically.
 * value(now) adds the buckets that overlap (now − window, now]: exact to one
 * bucket at the window's old edge.
 *
 * To stay bounded the state drops buckets older than its newest event time
 * minus window minus one bucket. That threshold depends only on the events
 * seen, never on when they arrived, so the state is still order-free.
 * State: { b: { bucketNumber: count | micro-units }, m: newest event time }.
 */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, toMicro, toNumber, type Micro } from './numbers.ts';

export interface WindowState {
  b: Record<number, Micro>;
  m: number | null;
}

export function windowAggregator(kind: 'count' | 'sum', window: number, bucket: number): Aggregator<WindowState, number> {
  /** The oldest bucket number kept when the newest event time is `m`. */
  const oldestKept = (m: number) => Math.floor(m / bucket) - Math.ceil(window / bucket) - 1;
  const prune = (s: WindowState): WindowState => {
    if (s.m === null) return s;
    const min = oldestKept(s.m);
    for (const k in s.b) if (Number(k) < min) delete s.b[k];
    return s;
  };
  return {
    init: () => ({ b: {}, m: null }),
    add: (s, input) => {
      let amount: Micro;
      if (kind === 'count') amount = 1;
      else {
        const n = toNumber(input.value);
        if (n === undefined) return s;
        amount = toMicro(n);
      }
      const k = Math.floor(input.time / bucket);
      s.b[k] = addMicro(s.b[k] ?? 0, amount);
      if (s.m === null || input.time > s.m) {
        s.m = input.time;
        return prune(s);
      }
      // The newest time did not move: only the new bucket can be past the threshold.
      if (k < oldestKept(s.m)) delete s.b[k];
      return s;
    },
    merge: (a, b) => {
      const out: WindowState = { b: { ...a.b }, m: a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m) };
      for (const k in b.b) out.b[k] = addMicro(out.b[k] ?? 0, b.b[k]!);
      return prune(out);
    },
    value: (s, now) => {
      let total: Micro = 0;
      for (const k in s.b) {
        const start = Number(k) * bucket;
        if (start + bucket > now - window && start <= now) total = addMicro(total, s.b[k]!);
      }
      return kind === 'count' ? Number(total) : fromMicro(total);
    },
  };
}
