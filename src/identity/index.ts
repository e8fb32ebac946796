/** The identity graph's rules: which identifiers an event carries, merge guards, components for unmerge. */
export { identifiersOf, EMAIL_PATHS, SHREDDED_EMAIL, type EventIdentifiers, type EmailHasher } from './identifiers.ts';
export { refuseJoin, type GuardOptions } from './guards.ts';
export { componentOf } from './components.ts';
