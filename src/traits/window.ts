/**
 * window_count and window_sum: how many matching events, or the total of a
 * value, over the last `window` before now. Events fall into buckets (hour
 * or day starts, UTC). value(now) adds the buckets that overlap
 * (now − window, now]: exact to one bucket at the window's old edge.
 *
 * To stay bounded the state drops buckets older than its newest event time
 * minus window minus one bucket. That threshold depends only on the events
 * seen, never on when they arrived, so the state is still order-free.
 * State: { b: { bucketStart: count | micro-units }, m: newest event time }.
 */
import type { Aggregator } from './aggregator.ts';
import { addMicro, fromMicro, toMicro, toNumber } from './numbers.ts';

export interface WindowState {
  b: Record<string, string>;
  m: number | null;
}

function prune(s: WindowState, window: number, bucket: number): WindowState {
  if (s.m === null) return s;
  const threshold = Math.floor(s.m / bucket) * bucket - window - bucket;
  for (const k of Object.keys(s.b)) if (Number(k) < threshold) delete s.b[k];
  return s;
}

export function windowAggregator(kind: 'count' | 'sum', window: number, bucket: number): Aggregator<WindowState, number> {
  return {
    init: () => ({ b: {}, m: null }),
    add: (s, input) => {
      let amount: bigint;
      if (kind === 'count') amount = 1n;
      else {
        const n = toNumber(input.value);
        if (n === undefined) return s;
        amount = toMicro(n);
      }
      const start = Math.floor(input.time / bucket) * bucket;
      const k = String(start);
      s.b[k] = addMicro(s.b[k] ?? '0', amount);
      if (s.m === null || input.time > s.m) {
        s.m = input.time;
        return prune(s, window, bucket);
      }
      // The newest time did not move: only the new bucket can be past the threshold.
      if (start < Math.floor(s.m / bucket) * bucket - window - bucket) delete s.b[k];
      return s;
    },
    merge: (a, b) => {
      const out: WindowState = { b: { ...a.b }, m: a.m === null ? b.m : b.m === null ? a.m : Math.max(a.m, b.m) };
      for (const [k, v] of Object.entries(b.b)) out.b[k] = addMicro(out.b[k] ?? '0', v);
      return prune(out, window, bucket);
    },
    value: (s, now) => {
      let total = 0n;
      for (const [k, v] of Object.entries(s.b)) {
        const start = Number(k);
        if (start + bucket > now - window && start <= now) total += BigInt(v);
      }
      return kind === 'count' ? Number(total) : fromMicro(total);
    },
  };
}
