/** What the profile operations need to know about the computed traits in force. */
import type { AggregatorInput, Aggregator } from '../traits/aggregator.ts';
import type { PortraitEvent } from '../core/event.ts';
import type { AttributePolicy } from './attributes.ts';
import type { ConsentPolicy } from './consent.ts';
import type { ScoreSpecs } from '../core/scores.ts';

export interface TraitRuntime {
  name: string;
  hash: string;
  aggregator: Aggregator;
  /** The consent purpose the trait is bound to: only events the profile consented to feed it. */
  purpose?: string;
  input(e: PortraitEvent): AggregatorInput | undefined;
}

export interface ProfileRules {
  traits: readonly TraitRuntime[];
  attributes: AttributePolicy;
  /** The configured purposes (absent: the defaults). */
  consent?: ConsentPolicy;
  /** The declared scores (absent: none). */
  scores?: ScoreSpecs;
}
