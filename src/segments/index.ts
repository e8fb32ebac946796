/** Segments and tags: the condition language, evaluation with explanations and time-driven changes, and live membership. */

/** The JSON form of a condition, its schema and helpers. */
export { ConditionSchema, durationMs, tagCovers, tagRefs, unknownTagMessage, type Condition, type Literal } from './ast.ts';
/** Parses the text form; throws PORTRAIT_SEGMENT_CONDITION_SYNTAX with position and reason. */
export { parseCondition } from './parse.ts';
/** Prints a condition as text that parses back to the same JSON. */
export { printCondition } from './print.ts';
/** Reads a condition from text or JSON, and checks it against the defined traits, attributes and segments. */
export { readCondition, checkCondition, type CheckContext } from './check.ts';
/** Evaluation over one profile at a time: holds, explain, next time-driven change. */
export { evaluate, explain, nextChange, ProfileReader, CONTINUOUS_RECHECK_MS, type Explanation, type SegmentTrait } from './evaluate.ts';
/** Reading and compiling sets of definitions. */
export { readDefinitions, SegmentSet, memberKey, type SegmentDefinition, type DefinitionKind } from './set.ts';
/** The definitions in force, with versions and backfill status. */
export { SegmentRegistry } from './registry.ts';
/** Live membership inside the engine. */
export { LiveSegments, type LiveSegmentsOptions, type CommitCause } from './live.ts';
