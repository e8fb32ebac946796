/** Computed traits: definitions, their validation and version hash, and the aggregators that compute them. */
/** Compiles a validated definition into its filter, extraction and aggregator. */
export { compileTrait, type CompiledTrait } from './extract.ts';
/** Validates a raw definition, listing every problem; the schema and its static type. */
export { validateTraitDefinition, definitionHash, TraitDefinitionSchema, TRAIT_KINDS, type TraitDefinition, type TraitKind } from './definition.ts';
/** Reads "7d", "12h", … as milliseconds. */
export { parseDuration } from './duration.ts';
/** The aggregator for a definition, and the kinds known. */
export { createAggregator, knownKinds } from './registry.ts';
export type { Aggregator, AggregatorInput } from './aggregator.ts';
