/**
 * The profile document: the materialised view the engine keeps for one
 * connected group of identifiers. Every part of it is a mergeable summary of
 * the profile's events, so a merge of two profiles is a merge of two documents.
 */
import type { Json } from './event.ts';

/** An attribute value with the (event time, messageId) that set it. */
export interface AttributeValue {
  v: Json;
  t: number;
  id: string;
  /** 1 when written "only if not set" (a trait named in the message's `context.setOnce`, PostHog's `$set_once`). */
  o?: 1;
}

/** A computed trait's aggregator state, tagged with the definition version it belongs to. */
export interface TraitState {
  /** definition hash */
  h: string;
  /** aggregator state */
  s: unknown;
}

/** Where a consent decision came from. */
export type ConsentSource = 'identify' | 'context' | 'api';

/**
 * A profile's latest consent decision for one purpose (latest by event time,
 * then messageId), with `s`: the start (event time) of the current
 * uninterrupted run of grants, which purpose-bound traits count from.
 */
export interface ConsentRecord {
  granted: boolean;
  t: number;
  source: ConsentSource;
  /** messageId of the event that carried it. */
  id: string;
  /** Present when granted: the event time the current run of grants began. */
  s?: number;
}

/**
 * A profile's latest value of one declared score (latest by event time, then
 * messageId), with the message that carried it and the model that computed it.
 */
export interface ScoreRecord {
  v: number;
  t: number;
  id: string;
  /** The model named by the sender. */
  m?: string;
}

/** A tag's name: lower-case words joined by "/" (`interest/sports/football`), at most eight levels. */
export const TAG_NAME_PATTERN = '^[a-z0-9_]{1,64}(/[a-z0-9_]{1,64}){0,7}$';

/** A profile's latest manual decision on one tag (by event time, then messageId): set (`on`) or unset. */
export interface ManualTagRecord {
  on: boolean;
  t: number;
  id: string;
}

export type ProfileKind = 'user' | 'group';

export interface ProfileDoc {
  id: string;
  workspace: string;
  kind: ProfileKind;
  /** Identifier keys, sorted: `user:…`, `anon:…`, `email:<hash>`, `ext:<type>:…`, `group:…`. */
  identifiers: string[];
  attributes: Record<string, AttributeValue>;
  traits: Record<string, TraitState>;
  /** Consent per purpose; absent until the first decision (no record reads as not granted). */
  consents?: Record<string, ConsentRecord>;
  /** Declared scores (model outputs) by name; absent until the first one arrives. */
  scores?: Record<string, ScoreRecord>;
  /** Manual tag decisions by tag name (set through the event log); absent until the first one. */
  tags?: Record<string, ManualTagRecord>;
  /** Group (account) ids this user belongs to, sorted; for a group profile, its member profile count lives in attributes. */
  groups: string[];
  /** Earliest and latest event time; meaningful once eventCount > 0. */
  firstSeen: number;
  lastSeen: number;
  eventCount: number;
  /** Log position of the event that created the profile. */
  createdAt: number;
  /**
   * Partitioned workers, group profiles: recomputed from the stream's events
   * up to this position when a member was erased, so a forwarded event from
   * at or before it is in it already.
   */
  refoldedTo?: number;
}

export function emptyProfile(id: string, workspace: string, kind: ProfileKind, createdAt: number): ProfileDoc {
  return {
    id,
    workspace,
    kind,
    identifiers: [],
    attributes: {},
    traits: {},
    groups: [],
    firstSeen: 0,
    lastSeen: 0,
    eventCount: 0,
    createdAt,
  };
}

/** JSON with object keys sorted at every level: equal values give equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    // A null-prototype object keeps a "__proto__" key as data instead of dropping it.
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}
