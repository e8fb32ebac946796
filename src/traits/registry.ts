/** One table from trait kind to the factory of its aggregator. Adding a kind means adding a file and a row. */
import { Errors } from '../core/errors.ts';
import type { Aggregator } from './aggregator.ts';
import { avgAggregator } from './avg.ts';
import { countAggregator } from './count.ts';
import { decayedAggregator } from './decayed.ts';
import { TRAIT_KINDS, type TraitDefinition, type TraitKind } from './definition.ts';
import { distinctAggregator } from './distinct.ts';
import { maxAggregator, minAggregator } from './extreme.ts';
import { firstAggregator, lastAggregator } from './first-last.ts';
import { rfmAggregator } from './rfm.ts';
import { sumAggregator } from './sum.ts';
import { topAggregator } from './top.ts';
import { windowCountAggregator, windowSumAggregator } from './window.ts';

const FACTORIES: Record<TraitKind, (def: TraitDefinition) => Aggregator> = {
  count: countAggregator,
  sum: sumAggregator,
  min: minAggregator,
  max: maxAggregator,
  avg: avgAggregator,
  first: firstAggregator,
  last: lastAggregator,
  distinct: distinctAggregator,
  top: topAggregator,
  window_count: windowCountAggregator,
  window_sum: windowSumAggregator,
  decayed: decayedAggregator,
  rfm: rfmAggregator,
};

/** The aggregator for a definition; throws PORTRAIT_TRAIT_UNKNOWN_KIND for a kind not in the table. */
export function createAggregator(def: TraitDefinition): Aggregator {
  // hasOwn: a kind such as "constructor" must not find Object.prototype members.
  if (!Object.hasOwn(FACTORIES, def.kind)) throw Errors.unknownAggregator(String(def.kind), knownKinds());
  return FACTORIES[def.kind](def);
}

/** The trait kinds, in documentation order. */
export const knownKinds = (): string[] => [...TRAIT_KINDS];
