/** Portrait: a real-time user profile engine. The library's public face. */
export { Portrait, type OpenOptions, type IngestResult, type MessageOutcome, type ReadOptions } from './portrait/portrait.ts';
export type { IdType } from './portrait/identifiers.ts';
export type { SearchPage } from './portrait/search.ts';
export type { SearchRequest, SearchCondition, SearchOp } from './portrait/search-schema.ts';
export { ManualClock, systemClock, type Clock } from './core/clock.ts';
export { PortraitError, isPortraitError, type Problem } from './core/errors.ts';
export type { PortraitEvent } from './core/event.ts';
export type { ProfileView } from './profile/index.ts';
export { loadConfig, resolveConfig, type ConfigInput, type ResolvedConfig } from './config/index.ts';
export type { RetentionReport, RetentionRule, DeleteProfile } from './privacy/index.ts';
export type { RetentionLogEntry } from './storage/index.ts';
