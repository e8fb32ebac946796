/** Profile documents: apply an event, merge two profiles, read a view. */
export { applyEvent, type ApplyResult, type AttributeRejection, type Changes } from './apply.ts';
export { mergeDocs } from './merge.ts';
export { viewOf, traitValue, splitIdentifiers, type ProfileView, type ProfileIdentities, type TraitReading } from './view.ts';
export { defaultAttributePolicy, type AttributePolicy, type AttributeType } from './attributes.ts';
export type { TraitRuntime, ProfileRules } from './runtime.ts';
