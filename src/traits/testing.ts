/** Helpers shared by the aggregator tests (not part of the folder's public face). */
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import { createAggregator, validateTraitDefinition } from './index.ts';

/** Midnight UTC: hour- and day-aligned. */
export const T0 = Date.UTC(2024, 2, 10);
export const MIN = 60_000;

/** The aggregator of a validated definition named "trait". */
export const agg = (def: Record<string, unknown>): Aggregator => createAggregator(validateTraitDefinition({ name: 'trait', ...def }));

let seq = 0;
/** An input at `time` with `value`; a fresh increasing messageId unless given. */
export const inp = (time: number, value?: unknown, extra: Partial<AggregatorInput> = {}): AggregatorInput => ({
  time,
  id: extra.id ?? `m${String(++seq).padStart(6, '0')}`,
  value,
  key: extra.key,
  weight: extra.weight ?? 1,
});

/** Folds inputs from init(). */
export function fold(a: Aggregator, inputs: readonly AggregatorInput[]): unknown {
  let s = a.init();
  for (const x of inputs) s = a.add(s, x);
  return s;
}

/** Values numeric kinds must ignore. */
export const JUNK: readonly unknown[] = ['abc', '', '  ', null, true, { n: 1 }, [2], 'NaN', 'Infinity', '1e400', undefined];

/** The bytes a state is stored and compared as. */
export const bytes = (s: unknown): string => JSON.stringify(s);
