/**
 * Scores in a profile document: per declared score, the latest value by
 * event time then messageId (the order attributes and consents use), so a
 * late older score never overwrites a newer one and two profiles' scores
 * merge by keeping the later one per score. A purpose-bound score is applied
 * only from events its purpose's current run of grants covers, like a
 * purpose-bound trait, and a withdrawal removes it.
 */
import { compareEventOrder, mergeLatest, type Json, type PortraitEvent } from '../core/event.ts';
import type { ProfileDoc, ScoreRecord } from '../core/profile.ts';
import { readScores, type ScoreProblem, type ScoreSpecs } from '../core/scores.ts';
import { consentAllows } from './consent.ts';

export type ScoreChanges = Record<string, [Json | undefined, Json | undefined]>;

const NONE: ScoreSpecs = new Map();

/** The history key of a score. */
export const scoreKey = (name: string): string => `score.${name}`;

/**
 * Folds the scores `e` carries (its `context.scores`) into `doc`; returns
 * the entries it could not use. Changes of value go into `changes` when given.
 */
export function applyScores(doc: ProfileDoc, e: PortraitEvent, specs: ScoreSpecs | undefined, changes: ScoreChanges | undefined): ScoreProblem[] {
  const { scores, problems } = readScores(e.context?.scores, specs ?? NONE);
  for (const s of scores) {
    const purpose = specs!.get(s.name)!.purpose;
    if (purpose !== undefined && !consentAllows(doc, purpose, e.timestamp)) continue;
    const cur = doc.scores?.[s.name];
    if (cur !== undefined && compareEventOrder(e.timestamp, e.messageId, cur.t, cur.id) <= 0) continue;
    const rec: ScoreRecord = s.model !== undefined ? { v: s.value, t: e.timestamp, id: e.messageId, m: s.model } : { v: s.value, t: e.timestamp, id: e.messageId };
    (doc.scores ??= {})[s.name] = rec;
    if (changes !== undefined && cur?.v !== s.value) changes[scoreKey(s.name)] = [cur?.v, s.value];
  }
  return problems;
}

/** Removes the scores bound to `purpose` (its consent was withdrawn). */
export function clearPurposeScores(doc: ProfileDoc, purpose: string, specs: ScoreSpecs | undefined, changes: ScoreChanges | undefined): void {
  if (doc.scores === undefined || specs === undefined) return;
  for (const name of Object.keys(doc.scores)) {
    if (specs.get(name)?.purpose !== purpose) continue;
    if (changes !== undefined) changes[scoreKey(name)] = [doc.scores[name]!.v, undefined];
    delete doc.scores[name];
  }
  if (Object.keys(doc.scores).length === 0) delete doc.scores;
}

/** Per score, the later of the two (neither argument is changed). */
export function mergeScores(a: ProfileDoc['scores'], b: ProfileDoc['scores']): ProfileDoc['scores'] {
  return mergeLatest(a, b);
}

/** Whether any declared score is bound to a purpose (merges and consent changes must then refold). */
export function hasPurposeScores(specs: ScoreSpecs | undefined): boolean {
  if (specs === undefined) return false;
  for (const s of specs.values()) if (s.purpose !== undefined) return true;
  return false;
}

/** Score values that differ between two versions of a profile, added to `changes`. */
export function scoreChanges(before: ProfileDoc, after: ProfileDoc, changes: ScoreChanges): ScoreChanges {
  for (const name of new Set([...Object.keys(before.scores ?? {}), ...Object.keys(after.scores ?? {})])) {
    const o = before.scores?.[name]?.v;
    const v = after.scores?.[name]?.v;
    if (o !== v) changes[scoreKey(name)] = [o, v];
  }
  return changes;
}

/**
 * Replaces `doc`'s purpose-bound scores with those of `exact` (a fold of all
 * its events, after a consent change altered which events count).
 */
export function adoptPurposeScores(doc: ProfileDoc, exact: ProfileDoc, specs: ScoreSpecs | undefined, changes: ScoreChanges): void {
  if (!hasPurposeScores(specs)) return;
  const before: ProfileDoc = { ...doc, scores: { ...doc.scores } };
  const scores: Record<string, ScoreRecord> = {};
  for (const [name, r] of Object.entries(doc.scores ?? {})) if (specs!.get(name)?.purpose === undefined) scores[name] = r;
  for (const [name, r] of Object.entries(exact.scores ?? {})) if (specs!.get(name)?.purpose !== undefined) scores[name] = r;
  if (Object.keys(scores).length > 0) doc.scores = scores;
  else delete doc.scores;
  scoreChanges(before, doc, changes);
}

/** One score as the API shows it. */
export interface ScoreView {
  value: number;
  /** Event time of the message that carried it, ISO 8601. */
  time: string;
  messageId: string;
  model?: string;
}

/** The profile's scores as the API shows them, by name. */
export function scoreViews(doc: ProfileDoc): Record<string, ScoreView> {
  const out: Record<string, ScoreView> = {};
  for (const name of Object.keys(doc.scores ?? {}).sort()) {
    const r = doc.scores![name]!;
    out[name] = { value: r.v, time: new Date(r.t).toISOString(), messageId: r.id, ...(r.m !== undefined ? { model: r.m } : {}) };
  }
  return out;
}
