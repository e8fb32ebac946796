/**
 * Consent per purpose: reading the decisions an event carries (identify
 * `traits.consent`, `context.consent` in Segment's `categoryPreferences`
 * shape or as plain `{ purpose: boolean }`), folding them into a profile,
 * and the gate purpose-bound traits pass events through.
 *
 * Semantics, chosen so that the result depends only on the set of events
 * (any arrival order, any merge order): per purpose, the latest decision by
 * event time (then messageId) is the consent; a purpose-bound trait counts
 * exactly the events whose time is at or after the start of the current
 * uninterrupted run of grants. No record, or a withdrawal as the latest
 * decision, counts nothing. A withdrawal therefore empties the purpose's
 * traits at once; a new grant starts counting from its own event time.
 */
import { compareEventOrder, type Json, type JsonObject, type PortraitEvent } from '../core/event.ts';
import type { ConsentRecord, ConsentSource, ProfileDoc } from '../core/profile.ts';

export interface ConsentPolicy {
  /** The purposes consent can be given for. */
  purposes: readonly string[];
  /** Consent-manager category (matched in lower case) → purpose. */
  categories: Readonly<Record<string, string>>;
}

export const DEFAULT_PURPOSES = ['analytics', 'personalisation', 'marketing'] as const;

/** Common consent-manager category names (Segment Consent Management, OneTrust-style labels). */
export const DEFAULT_CONSENT_CATEGORIES: Readonly<Record<string, string>> = {
  analytics: 'analytics',
  performance: 'analytics',
  personalisation: 'personalisation',
  personalization: 'personalisation',
  functional: 'personalisation',
  marketing: 'marketing',
  advertising: 'marketing',
  targeting: 'marketing',
};

export const defaultConsentPolicy = (): ConsentPolicy => ({ purposes: [...DEFAULT_PURPOSES], categories: { ...DEFAULT_CONSENT_CATEGORIES } });

export interface ConsentDecision {
  purpose: string;
  granted: boolean;
  source: ConsentSource;
}

/** A consent value an event carries that was not used, and why. */
export interface ConsentProblem {
  /** Where it was: `traits.consent.<name>`, `context.consent.<name>` or `context.consent.categoryPreferences.<name>`. */
  field: string;
  value: Json;
  reason: 'unknown_purpose' | 'not_boolean' | 'not_object';
}

const isObject = (x: unknown): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The decisions an event carries (one per purpose; a later form wins within the event) and the values it could not use. */
export function consentOf(e: PortraitEvent, policy: ConsentPolicy): { decisions: ConsentDecision[]; problems: ConsentProblem[] } {
  const byPurpose = new Map<string, ConsentDecision>();
  const problems: ConsentProblem[] = [];
  const known = new Set(policy.purposes);
  const plain = (obj: JsonObject, prefix: string, source: ConsentSource, skip?: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (k === skip) continue;
      if (!known.has(k)) problems.push({ field: `${prefix}.${k}`, value: v, reason: 'unknown_purpose' });
      else if (typeof v !== 'boolean') problems.push({ field: `${prefix}.${k}`, value: v, reason: 'not_boolean' });
      else byPurpose.set(k, { purpose: k, granted: v, source });
    }
  };
  const ctx = e.context?.consent;
  if (ctx !== undefined) {
    const source: ConsentSource = e.context?.consentSource === 'api' ? 'api' : 'context';
    if (!isObject(ctx)) problems.push({ field: 'context.consent', value: ctx, reason: 'not_object' });
    else {
      const prefs = ctx.categoryPreferences;
      if (prefs !== undefined) {
        if (!isObject(prefs)) problems.push({ field: 'context.consent.categoryPreferences', value: prefs, reason: 'not_object' });
        else {
          for (const [cat, v] of Object.entries(prefs)) {
            const purpose = Object.hasOwn(policy.categories, cat.toLowerCase()) ? policy.categories[cat.toLowerCase()] : undefined;
            // Categories without a purpose (e.g. "strictly necessary") are not ours to record.
            if (purpose === undefined) continue;
            if (typeof v !== 'boolean') problems.push({ field: `context.consent.categoryPreferences.${cat}`, value: v, reason: 'not_boolean' });
            else if (known.has(purpose)) byPurpose.set(purpose, { purpose, granted: v, source });
          }
        }
      }
      plain(ctx, 'context.consent', source, 'categoryPreferences');
    }
  }
  if (e.type === 'identify' && e.traits !== undefined && Object.hasOwn(e.traits, 'consent')) {
    const t = e.traits.consent;
    if (!isObject(t)) problems.push({ field: 'traits.consent', value: t ?? null, reason: 'not_object' });
    else plain(t, 'traits.consent', 'identify');
  }
  return { decisions: [...byPurpose.values()].sort((a, b) => (a.purpose < b.purpose ? -1 : 1)), problems };
}

export interface ConsentEffect {
  /** Whether the purpose's granted state changed. */
  flipped: boolean;
  /** A withdrawal became the latest decision: the purpose's traits must be emptied. */
  clear: boolean;
  /** The decision changes which already-folded events count: refold the profile from the log. */
  refold: boolean;
}

/**
 * Folds one decision carried by `e` into `doc`. `lastSeenBefore` is the
 * profile's latest event time before `e` (-Infinity for a new profile).
 */
export function applyConsent(doc: ProfileDoc, d: ConsentDecision, e: PortraitEvent, lastSeenBefore: number): ConsentEffect {
  const none: ConsentEffect = { flipped: false, clear: false, refold: false };
  const consents = (doc.consents ??= {});
  const cur = Object.hasOwn(consents, d.purpose) ? consents[d.purpose] : undefined;
  if (cur !== undefined && cur.t === e.timestamp && cur.id === e.messageId) return none;
  const rec: ConsentRecord = { granted: d.granted, t: e.timestamp, source: d.source, id: e.messageId };
  if (cur === undefined || compareEventOrder(e.timestamp, e.messageId, cur.t, cur.id) > 0) {
    if (d.granted) {
      if (cur?.granted === true) {
        consents[d.purpose] = { ...rec, s: cur.s! };
        return none;
      }
      consents[d.purpose] = { ...rec, s: e.timestamp };
      // Events at or after the new run's start that arrived earlier were not counted.
      return { flipped: true, clear: false, refold: lastSeenBefore >= e.timestamp };
    }
    consents[d.purpose] = rec;
    return { flipped: cur?.granted === true, clear: cur?.granted === true, refold: false };
  }
  // An older decision: it matters only when it may move the start of the current run.
  if (!cur.granted) return none;
  if (d.granted && e.timestamp >= cur.s!) return none;
  if (!d.granted && e.timestamp < cur.s!) return none;
  return { flipped: false, clear: false, refold: true };
}

/** Whether an event at time `t` may feed a trait bound to `purpose` (no purpose: always). */
export function consentAllows(doc: ProfileDoc, purpose: string | undefined, t: number): boolean {
  if (purpose === undefined) return true;
  const c = doc.consents !== undefined && Object.hasOwn(doc.consents, purpose) ? doc.consents[purpose] : undefined;
  return c !== undefined && c.granted && c.s !== undefined && t >= c.s;
}

/** Whether the profile's consent for `purpose` is granted now (no purpose: always). */
export function consentGranted(doc: ProfileDoc, purpose: string | undefined): boolean {
  if (purpose === undefined) return true;
  const c = doc.consents !== undefined && Object.hasOwn(doc.consents, purpose) ? doc.consents[purpose] : undefined;
  return c !== undefined && c.granted;
}

/**
 * The consents folded from a whole set of events, in event-time order: the
 * exact result any arrival order must reach.
 */
export function consentsOf(events: readonly PortraitEvent[], policy: ConsentPolicy): Record<string, ConsentRecord> | undefined {
  const carrying = events.filter((e) => e.context?.consent !== undefined || (e.type === 'identify' && e.traits !== undefined && Object.hasOwn(e.traits, 'consent')));
  if (carrying.length === 0) return undefined;
  carrying.sort((a, b) => compareEventOrder(a.timestamp, a.messageId, b.timestamp, b.messageId));
  const scratch = { consents: {} } as ProfileDoc;
  for (const e of carrying) for (const d of consentOf(e, policy).decisions) applyConsent(scratch, d, e, -Infinity);
  return Object.keys(scratch.consents!).length > 0 ? scratch.consents : undefined;
}
