/**
 * top: the most frequent keys with their counts (top-k). Every key's count is
 * kept exactly — a truncated list could not be merged exactly — so the state
 * grows with the number of different keys; pick keys with bounded variety
 * (categories, not URLs). State: [[key, count], …] sorted by key.
 * Value: the k entries [{ key, count }] with the highest counts, ties by key.
 */
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import type { TraitDefinition } from './definition.ts';
import { mergePairs, search, upsert, type Pairs } from './sorted-pairs.ts';
import { setOwnKey } from './canonical.ts';

export type TopState = Pairs<string, number>;
export interface TopEntry {
  key: string;
  count: number;
}

export const DEFAULT_TOP_K = 5;

const zero = () => 0;
const add = (x: number, y: number) => x + y;
const same = (x: number) => x;

/** Whether (count c, key x) ranks before (d, y): higher count first, ties by key. */
const ranksBefore = (c: number, x: string, d: number, y: string) => c > d || (c === d && x < y);


export function topAggregator(def: Pick<TraitDefinition, 'k'> = {}): Aggregator<TopState, TopEntry[]> {
  const k = def.k ?? DEFAULT_TOP_K;
  const addInput = (s: TopState, input: AggregatorInput): TopState => {
    if (input.key === undefined) return s;
    upsert(s, input.key, zero)[1] += 1;
    return s;
  };
  return {
    init: () => [],
    add: addInput,
    // The list is a map key → count ranked by count: the history records it per key.
    keyed: (entries) => {
      const out: Record<string, number> = {};
      for (const e of entries) setOwnKey(out, e.key, e.count);
      return out;
    },
    // An input raises one key's count by one: that key enters or stays in the list, and
    // when it enters a full list, the last one leaves. Found by counting, without sorting.
    addReporting: (s, input) => {
      const key = input.key;
      if (key === undefined) return { state: s, change: {} };
      const i = search(s, key);
      const c = i >= 0 ? s[i]![1] : 0;
      // Keys other than `key` ranking before it with its count now, and with one more.
      let before = 0;
      let after = 0;
      for (const [x, d] of s) {
        if (x === key) continue;
        if (ranksBefore(d, x, c, key)) before++;
        if (ranksBefore(d, x, c + 1, key)) after++;
      }
      const change: Record<string, [unknown, unknown]> = {};
      const wasListed = i >= 0 && before < k;
      if (wasListed) setOwnKey(change, key, [c, c + 1]);
      else if (after < k) {
        setOwnKey(change, key, [undefined, c + 1]);
        // The list was full when k or more other keys ranked before `key`: its last one leaves.
        if (before >= k) {
          const listed = s.filter(([x, d]) => x !== key && ranksBefore(d, x, c, key)).sort((p, q) => (ranksBefore(p[1], p[0], q[1], q[0]) ? -1 : 1));
          const last = listed[k - 1]!;
          setOwnKey(change, last[0], [last[1], undefined]);
        }
      }
      return { state: addInput(s, input), change };
    },
    merge: (a, b) => mergePairs(a, b, add, same),
    value: (s) =>
      [...s]
        .sort((x, y) => (y[1] !== x[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
        .slice(0, k)
        .map(([key, count]) => ({ key, count })),
  };
}
