/** The identity graph's rules: which identifiers an event carries, merge guards, components for unmerge. */
export { identifiersOf, type EventIdentifiers, type EmailHasher } from './identifiers.ts';
export { refuseJoin, type GuardOptions } from './guards.ts';
export { componentOf } from './components.ts';
