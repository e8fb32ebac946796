/** One table from trait kind to the aggregator that computes it. Adding a kind means adding a file and a row. */
import { DAY, HOUR } from '../core/clock.ts';
import { Errors } from '../core/errors.ts';
import type { Aggregator } from './aggregator.ts';
import { avgAggregator } from './avg.ts';
import { countAggregator } from './count.ts';
import { decayedAggregator } from './decayed.ts';
import { TRAIT_KINDS, type TraitDefinition, type TraitKind } from './definition.ts';
import { distinctAggregator } from './distinct.ts';
import { parseDuration } from './duration.ts';
import { maxAggregator, minAggregator } from './extreme.ts';
import { firstAggregator, lastAggregator } from './first-last.ts';
import { rfmAggregator } from './rfm.ts';
import { sumAggregator } from './sum.ts';
import { topAggregator } from './top.ts';
import { windowAggregator } from './window.ts';

const bucketOf = (d: TraitDefinition) => (d.bucket === 'day' ? DAY : HOUR);

const FACTORIES: Record<TraitKind, (d: TraitDefinition) => Aggregator> = {
  count: () => countAggregator() as Aggregator,
  sum: () => sumAggregator() as Aggregator,
  min: () => minAggregator() as Aggregator,
  max: () => maxAggregator() as Aggregator,
  avg: () => avgAggregator() as Aggregator,
  first: () => firstAggregator() as Aggregator,
  last: () => lastAggregator() as Aggregator,
  distinct: (d) => distinctAggregator(d.exactLimit) as Aggregator,
  top: (d) => topAggregator(d.k) as Aggregator,
  window_count: (d) => windowAggregator('count', parseDuration(d.window)!, bucketOf(d)) as Aggregator,
  window_sum: (d) => windowAggregator('sum', parseDuration(d.window)!, bucketOf(d)) as Aggregator,
  decayed: (d) => decayedAggregator(parseDuration(d.halfLife)!, bucketOf(d), d.value !== undefined, d.k) as Aggregator,
  rfm: () => rfmAggregator() as Aggregator,
};

/** The aggregator for a validated definition. */
export function createAggregator(def: TraitDefinition): Aggregator {
  const f = FACTORIES[def.kind];
  if (f === undefined) throw Errors.unknownAggregator(String(def.kind), [...TRAIT_KINDS]);
  return f(def);
}

export const knownKinds = (): string[] => [...TRAIT_KINDS];
