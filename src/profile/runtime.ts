/** What the profile operations need to know about the computed traits in force. */
import type { AggregatorInput, Aggregator } from '../traits/aggregator.ts';
import type { PortraitEvent } from '../core/event.ts';
import type { AttributePolicy } from './attributes.ts';

export interface TraitRuntime {
  name: string;
  hash: string;
  aggregator: Aggregator;
  input(e: PortraitEvent): AggregatorInput | undefined;
}

export interface ProfileRules {
  traits: readonly TraitRuntime[];
  attributes: AttributePolicy;
}
