/**
 * Folding a profile from its events, from scratch: the profile as of a past
 * time, and both sides of an unmerge. Because every part of a profile is an
 * order-insensitive summary, the fold equals what streaming produced.
 */
import type { PortraitEvent, Positioned } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { applyEvent, type ProfileRules, type TraitRuntime } from '../profile/index.ts';

export function foldProfile(
  base: Pick<ProfileDoc, 'id' | 'workspace' | 'kind' | 'identifiers' | 'createdAt'>,
  events: readonly Positioned<PortraitEvent>[],
  rules: ProfileRules,
  covers: (t: TraitRuntime, position: number) => boolean = () => true,
): ProfileDoc {
  const doc = emptyProfile(base.id, base.workspace, base.kind, base.createdAt);
  doc.identifiers = [...base.identifiers].sort();
  for (const { position, record } of events) applyEvent(doc, record, rules, false, (t) => covers(t, position));
  return doc;
}

/** The user and anonymous ids among identifier keys: what the log is searched by. */
export function logIdsOf(identifiers: readonly string[]): { userIds: string[]; anonymousIds: string[] } {
  const userIds: string[] = [];
  const anonymousIds: string[] = [];
  for (const i of identifiers) {
    if (i.startsWith('user:')) userIds.push(i.slice(5));
    else if (i.startsWith('anon:')) anonymousIds.push(i.slice(5));
  }
  return { userIds, anonymousIds };
}
