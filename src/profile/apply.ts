/**
 * Folding one event into a profile document: counters and first/last seen,
 * attributes (identify traits and context.traits), group membership and every
 * computed trait whose filter matches, declared scores (context.scores) and
 * manual tags (context.portraitTags).
 * Returns what changed, for the history.
 */
import { isGroupTagEvent, type Json, type JsonObject, type PortraitEvent } from '../core/event.ts';
import type { AttributeValue, ProfileDoc, TraitState } from '../core/profile.ts';
import { coerce, earliestWins, pickAttribute, sameJson } from './attributes.ts';
import { applyConsent, consentAllows, consentOf, defaultConsentPolicy } from './consent.ts';
import type { ProfileRules, TraitRuntime } from './runtime.ts';
import { applyManualTags, MANUAL_TAGS_FIELD } from './manual-tags.ts';
import { applyScores, clearPurposeScores } from './scores.ts';
import { recordKeyChanges, recordTraitChange, type Changes } from './trait-change.ts';

export type { Changes } from './trait-change.ts';

export interface AttributeRejection {
  attribute: string;
  /**
   * `consent`: a consent value that names no configured purpose or is not a boolean;
   * `score`: a score that is not declared, not a number or out of its range (`attribute` is the field);
   * `tag`: a manual tag decision that is not a tag name to a boolean (`attribute` is the field).
   */
  reason: 'stale' | 'set_once' | 'type' | 'consent' | 'score' | 'tag';
  kept: Json;
  rejected: Json;
}

export interface ApplyResult {
  changes: Changes;
  rejections: AttributeRejection[];
  /**
   * A consent decision arrived that changes which of the profile's earlier
   * events feed its purpose-bound traits: the engine refolds the profile.
   */
  refold?: boolean;
}

const DEFAULT_POLICY = defaultConsentPolicy();

/**
 * Applies `e` to `doc` in place. With `record` false (replays), no history is
 * computed; the resulting document is the same.
 */
export function applyEvent(doc: ProfileDoc, e: PortraitEvent, rules: ProfileRules, record: boolean, traitFilter?: (t: TraitRuntime) => boolean): ApplyResult {
  const result: ApplyResult = { changes: {}, rejections: [] };
  const lastSeenBefore = doc.eventCount > 0 ? doc.lastSeen : -Infinity;
  if (doc.eventCount === 0) {
    doc.firstSeen = e.timestamp;
    doc.lastSeen = e.timestamp;
  } else {
    if (e.timestamp < doc.firstSeen) doc.firstSeen = e.timestamp;
    if (e.timestamp > doc.lastSeen) doc.lastSeen = e.timestamp;
  }
  doc.eventCount++;

  if (doc.kind === 'user') {
    if (e.context?.consent !== undefined || (e.type === 'identify' && e.traits !== undefined && Object.hasOwn(e.traits, 'consent'))) {
      applyConsents(doc, e, rules, record, lastSeenBefore, result);
    }
    if (e.context?.scores !== undefined) {
      for (const p of applyScores(doc, e, rules.scores, record ? result.changes : undefined)) {
        result.rejections.push({ attribute: p.name === '' ? 'context.scores' : `context.scores.${p.name}`, reason: 'score', kept: doc.scores?.[p.name]?.v ?? null, rejected: p.value });
      }
    }
    if (e.context?.[MANUAL_TAGS_FIELD] !== undefined) applyTags(doc, e, record, result);
    if (e.type === 'identify' && e.traits) applyAttributes(doc, e, withoutConsent(e.traits), rules, record, result);
    const ct = e.context?.traits;
    if (ct && typeof ct === 'object' && !Array.isArray(ct)) applyAttributes(doc, e, ct, rules, record, result);
    if (e.type === 'group' && e.groupId !== undefined && !doc.groups.includes(e.groupId)) {
      doc.groups.push(e.groupId);
      doc.groups.sort();
    }
    for (const t of rules.traits) {
      if (traitFilter && !traitFilter(t)) continue;
      if (t.purpose !== undefined && !consentAllows(doc, t.purpose, e.timestamp)) continue;
      const input = t.input(e);
      if (input === undefined) continue;
      const current = doc.traits[t.name];
      const state: TraitState = current !== undefined && current.h === t.hash ? current : { h: t.hash, s: t.aggregator.init() };
      if (state !== current) doc.traits[t.name] = state;
      if (!record) {
        state.s = t.aggregator.add(state.s, input);
        continue;
      }
      // An aggregator that can tell which keys of its value an input changes saves reading the whole value twice.
      const reported = t.aggregator.addReporting?.(state.s, input, e.timestamp);
      if (reported !== undefined) {
        state.s = reported.state;
        recordKeyChanges(result.changes, t.name, reported.change);
        continue;
      }
      const before = t.aggregator.value(state.s, e.timestamp) as Json;
      state.s = t.aggregator.add(state.s, input);
      recordTraitChange(result.changes, t, before, t.aggregator.value(state.s, e.timestamp) as Json);
    }
  } else if (e.type === 'group' && doc.identifiers.includes(`group:${e.groupId}`)) {
    // A group (account) profile keeps the group's own traits as attributes; an account the call
    // is only attributed to (context.groupId / context.groups) counts the call as activity.
    if (e.traits) applyAttributes(doc, e, e.traits, rules, record, result);
    // A group's own manual tag decision (a group_tag record); a member's message carrying portraitTags tags the member.
    if (isGroupTagEvent(e)) applyTags(doc, e, record, result);
  }
  return result;
}

function applyTags(doc: ProfileDoc, e: PortraitEvent, record: boolean, result: ApplyResult): void {
  for (const p of applyManualTags(doc, e, record ? result.changes : undefined)) result.rejections.push({ attribute: p.field, reason: 'tag', kept: null, rejected: p.value });
}

/** Identify traits without `consent`, which sets consents rather than an attribute. */
function withoutConsent(traits: JsonObject): JsonObject {
  if (!Object.hasOwn(traits, 'consent')) return traits;
  const { consent: _consent, ...rest } = traits;
  return rest;
}

/**
 * Folds the consent decisions an event carries; a withdrawal empties the
 * purpose's traits (recorded in the history), an unusable value is reported.
 */
function applyConsents(doc: ProfileDoc, e: PortraitEvent, rules: ProfileRules, record: boolean, lastSeenBefore: number, result: ApplyResult): void {
  const { decisions, problems } = consentOf(e, rules.consent ?? DEFAULT_POLICY);
  for (const p of problems) result.rejections.push({ attribute: p.field, reason: 'consent', kept: null, rejected: p.value });
  for (const d of decisions) {
    const before = doc.consents?.[d.purpose]?.granted ?? false;
    const effect = applyConsent(doc, d, e, lastSeenBefore);
    if (effect.refold) result.refold = true;
    if (record && effect.flipped) result.changes[`consent.${d.purpose}`] = [before, d.granted];
    if (!effect.clear) continue;
    clearPurposeScores(doc, d.purpose, rules.scores, record ? result.changes : undefined);
    // Read at the latest event time: a late withdrawal's own time may sit before the window a
    // trait reads. The clearing is recorded even when it reads the same there, so that the
    // segments reading the trait are re-evaluated.
    const at = Math.max(e.timestamp, doc.lastSeen);
    for (const t of rules.traits) {
      if (t.purpose !== d.purpose) continue;
      const st = doc.traits[t.name];
      if (st === undefined) continue;
      const old = record ? (t.aggregator.value(st.h === t.hash ? st.s : t.aggregator.init(), at) as Json) : undefined;
      delete doc.traits[t.name];
      if (record) recordTraitChange(result.changes, t, old, t.aggregator.value(t.aggregator.init(), at) as Json, true);
    }
  }
}

/** Names the message writes "only if not set" (`context.setOnce`). */
function setOnceNames(e: PortraitEvent): ReadonlySet<string> | undefined {
  const list = e.context?.setOnce;
  return Array.isArray(list) ? new Set(list.filter((x): x is string => typeof x === 'string')) : undefined;
}

function applyAttributes(doc: ProfileDoc, e: PortraitEvent, traits: JsonObject, rules: ProfileRules, record: boolean, result: ApplyResult): void {
  const once = setOnceNames(e);
  for (const name of Object.keys(traits)) {
    const raw = traits[name]!;
    const value = coerce(raw, rules.attributes.types[name]);
    const existing = doc.attributes[name];
    if (value === undefined) {
      result.rejections.push({ attribute: name, reason: 'type', kept: existing?.v ?? null, rejected: raw });
      continue;
    }
    const incoming: AttributeValue = once?.has(name) ? { v: value, t: e.timestamp, id: e.messageId, o: 1 } : { v: value, t: e.timestamp, id: e.messageId };
    if (existing === undefined) {
      doc.attributes[name] = incoming;
      if (record) result.changes[`attr.${name}`] = [undefined, value];
      continue;
    }
    const earliest = earliestWins(name, existing, incoming, rules.attributes);
    if (pickAttribute(name, existing, incoming, rules.attributes) === incoming) {
      if (!sameJson(existing.v, value)) {
        if (record) result.changes[`attr.${name}`] = [existing.v, value];
        // A set-once value replaced by an earlier one is a conflict too: the later one was visible for a while.
        if (earliest) result.rejections.push({ attribute: name, reason: 'set_once', kept: value, rejected: existing.v });
      }
      doc.attributes[name] = incoming;
    } else if (!sameJson(existing.v, value)) {
      result.rejections.push({ attribute: name, reason: earliest || incoming.o === 1 ? 'set_once' : 'stale', kept: existing.v, rejected: value });
    }
  }
}
