/** Profile documents: apply an event, merge two profiles, read a view. */
export { applyEvent, type ApplyResult, type AttributeRejection } from './apply.ts';
export { recordTraitChange, splitTraitChanges, traitOfKey, type Changes } from './trait-change.ts';
export { mergeDocs, needsConsentRefold } from './merge.ts';
export { viewOf, traitValue, splitIdentifiers, consentViews, type ConsentView, type ProfileView, type ProfileIdentities, type TraitReading } from './view.ts';
export { defaultAttributePolicy, type AttributePolicy, type AttributeType } from './attributes.ts';
export type { TraitRuntime, ProfileRules } from './runtime.ts';
export { manualTagOn, manualTagChanges, MANUAL_TAGS_FIELD } from './manual-tags.ts';
export { adoptPurposeScores, scoreChanges, scoreViews, type ScoreView } from './scores.ts';
export {
  applyConsent,
  consentAllows,
  consentGranted,
  consentOf,
  consentsOf,
  defaultConsentPolicy,
  DEFAULT_CONSENT_CATEGORIES,
  DEFAULT_PURPOSES,
  type ConsentDecision,
  type ConsentPolicy,
  type ConsentProblem,
} from './consent.ts';
