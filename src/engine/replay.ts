/**
 * Folding a profile from its events, from scratch: the profile as of a past
 * time, and both sides of an unmerge. Because every part of a profile is an
 * order-insensitive summary, the fold equals what streaming produced.
 */
import type { Json, PortraitEvent, Positioned } from '../core/event.ts';
import { canonicalJson, emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { adoptPurposeScores, applyEvent, consentsOf, defaultConsentPolicy, recordTraitChange, traitValue, type ProfileRules, type TraitRuntime } from '../profile/index.ts';

export function foldProfile(
  base: Pick<ProfileDoc, 'id' | 'workspace' | 'kind' | 'identifiers' | 'createdAt'>,
  events: readonly Positioned<PortraitEvent>[],
  rules: ProfileRules,
  covers: (t: TraitRuntime, position: number) => boolean = () => true,
): ProfileDoc {
  const doc = emptyProfile(base.id, base.workspace, base.kind, base.createdAt);
  doc.identifiers = [...base.identifiers].sort();
  // Consents first, from every event in event-time order: purpose-bound traits then count
  // exactly the events their purpose's final run of grants covers, whatever the log order.
  if (doc.kind === 'user') {
    const consents = consentsOf(events.map((e) => e.record), rules.consent ?? defaultConsentPolicy());
    if (consents !== undefined) doc.consents = consents;
  }
  for (const { position, record } of events) applyEvent(doc, record, rules, false, (t) => covers(t, position));
  return doc;
}

/**
 * Replaces `doc`'s consents, purpose-bound traits and purpose-bound scores with those of `exact`
 * (a fold of all its events); returns the changes, keyed as in the history.
 */
export function adoptConsentState(doc: ProfileDoc, exact: ProfileDoc, rules: ProfileRules, at: number): Record<string, [Json | undefined, Json | undefined]> {
  const changes: Record<string, [Json | undefined, Json | undefined]> = {};
  const purposes = new Set([...Object.keys(doc.consents ?? {}), ...Object.keys(exact.consents ?? {})]);
  for (const p of purposes) {
    const o = doc.consents?.[p]?.granted ?? false;
    const v = exact.consents?.[p]?.granted ?? false;
    if (o !== v) changes[`consent.${p}`] = [o, v];
  }
  if (exact.consents !== undefined) doc.consents = exact.consents;
  else delete doc.consents;
  // Read at the latest event time at least: a late decision's own time may sit before the
  // window a trait reads. Any change of state is recorded, even one that reads the same
  // there: segments re-evaluate the traits the history names.
  const when = Math.max(at, doc.lastSeen);
  for (const t of rules.traits) {
    if (t.purpose === undefined) continue;
    const before = doc.traits[t.name];
    const o = traitValue(doc, t, when);
    const st = exact.traits[t.name];
    if (st !== undefined) doc.traits[t.name] = st;
    else delete doc.traits[t.name];
    const v = traitValue(doc, t, when);
    recordTraitChange(changes, t, o, v, canonicalJson(before ?? null) !== canonicalJson(st ?? null));
  }
  adoptPurposeScores(doc, exact, rules.scores, changes);
  return changes;
}
