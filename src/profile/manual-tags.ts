/**
 * Manual tags in a profile document. The API sets or unsets one by appending
 * an identify whose `context.portraitTags` maps tag names to true (set) or
 * false (unset); per tag the latest decision by event time then messageId
 * wins (the order scores and consents use), so the fold is order-insensitive
 * and two profiles' tags merge by keeping the later decision per tag.
 */
import { compareEventOrder, MANUAL_TAGS_FIELD, mergeLatest, type Json, type PortraitEvent } from '../core/event.ts';
import { TAG_NAME_PATTERN, type ManualTagRecord, type ProfileDoc } from '../core/profile.ts';

export { MANUAL_TAGS_FIELD };

const TAG_NAME = new RegExp(TAG_NAME_PATTERN);

/** The history key of a manual tag. */
export const manualTagKey = (name: string): string => `tag.${name}`;

/** Whether the profile carries manual tag `name`. */
export function manualTagOn(doc: Pick<ProfileDoc, 'tags'>, name: string): boolean {
  return doc.tags?.[name]?.on === true;
}

/** A `context.portraitTags` entry that cannot be used. */
export interface ManualTagProblem {
  field: string;
  value: Json;
}

/**
 * Folds the manual tag decisions `e` carries into `doc`; returns the entries
 * it could not use (not a tag name, or not a boolean). Changes go into
 * `changes` when given.
 */
export function applyManualTags(doc: ProfileDoc, e: PortraitEvent, changes: Record<string, [Json | undefined, Json | undefined]> | undefined): ManualTagProblem[] {
  const raw = e.context?.[MANUAL_TAGS_FIELD];
  const field = `context.${MANUAL_TAGS_FIELD}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [{ field, value: raw ?? null }];
  const problems: ManualTagProblem[] = [];
  for (const name of Object.keys(raw).sort()) {
    const on = raw[name];
    if (!TAG_NAME.test(name) || typeof on !== 'boolean') {
      problems.push({ field: `${field}.${name}`, value: on ?? null });
      continue;
    }
    const cur = doc.tags?.[name];
    if (cur !== undefined && compareEventOrder(e.timestamp, e.messageId, cur.t, cur.id) <= 0) continue;
    (doc.tags ??= {})[name] = { on, t: e.timestamp, id: e.messageId };
    if (changes !== undefined && (cur?.on === true) !== on) changes[manualTagKey(name)] = [cur?.on === true, on];
  }
  return problems;
}

/** Per tag, the later decision of the two (neither argument is changed). */
export function mergeManualTags(a: ProfileDoc['tags'], b: ProfileDoc['tags']): ProfileDoc['tags'] {
  return mergeLatest(a, b);
}

/** Manual tags whose state differs between two versions of a profile, added to `changes`. */
export function manualTagChanges(before: ProfileDoc, after: ProfileDoc, changes: Record<string, [Json | undefined, Json | undefined]>): void {
  for (const name of new Set([...Object.keys(before.tags ?? {}), ...Object.keys(after.tags ?? {})])) {
    const o = manualTagOn(before, name);
    const v = manualTagOn(after, name);
    if (o !== v) changes[manualTagKey(name)] = [o, v];
  }
}
