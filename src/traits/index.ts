/** Computed traits: definitions, their validation and version hash, and the aggregators that compute them. */

/** Compiles a validated definition into its filter, value/key/weight extraction and aggregator. */
export { compileTrait, type CompiledTrait } from './extract.ts';
/** Validates a raw definition, throwing PORTRAIT_CONFIG_INVALID with every problem and its path. */
export { validateTraitDefinition } from './definition.ts';
/** A trait definition (the static type of TraitDefinitionSchema). */
export type { TraitDefinition, TraitKind, Condition } from './definition.ts';
/** The JSON Schema (TypeBox) of a trait definition. */
export { TraitDefinitionSchema } from './definition.ts';
/** The 13 trait kinds. */
export { TRAIT_KINDS } from './definition.ts';
/** A definition's version identity: sha256 of its canonical JSON, 16 hex digits. */
export { definitionHash } from './definition.ts';
/** Reads "30m", "12h", "7d", "2w" or whole milliseconds as milliseconds; undefined when unreadable. */
export { parseDuration, bucketMs } from './duration.ts';
/** The aggregator for a definition; PORTRAIT_TRAIT_UNKNOWN_KIND for an unknown kind. */
export { createAggregator } from './registry.ts';
/** The names of the trait kinds the registry knows. */
export { knownKinds } from './registry.ts';
/** The contract every aggregator keeps (init, add, merge, value) and what it is fed. */
export type { Aggregator, AggregatorInput } from './aggregator.ts';
