/**
 * Messages the API itself appends to the log (consent decisions, scores,
 * manual tags): an identify for the owner of an identifier, carrying them in
 * its context, so the engine folds them like any other message and a
 * rebuild repeats them; for a group (account) profile's manual tag, a
 * `group_tag` record, which names no person.
 */
import { Errors, type Problem } from '../core/errors.ts';
import type { GroupTagRecord, JsonObject } from '../core/event.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { readScores, scoreProblemsAt, type ScoreSpecs } from '../core/scores.ts';

export type ApiOwner = { userId: string } | { anonymousId: string };

/** Who an API message is recorded under: the identifier itself, or the profile's first user (else anonymous) id. */
export function apiOwner(idType: string, id: string, doc: ProfileDoc | undefined): ApiOwner | undefined {
  if (idType === 'user_id') return { userId: id };
  if (idType === 'anonymous_id') return { anonymousId: id };
  const user = doc?.identifiers.find((i) => i.startsWith('user:'));
  if (user !== undefined) return { userId: user.slice(5) };
  const anon = doc?.identifiers.find((i) => i.startsWith('anon:'));
  return anon !== undefined ? { anonymousId: anon.slice(5) } : undefined;
}

/** The identify message an API call appends, as sent to ingest. */
export function apiIdentify(owner: ApiOwner, context: JsonObject, messageId: string, timestamp: number): JsonObject {
  return { type: 'identify', messageId, timestamp: new Date(timestamp).toISOString(), ...owner, context };
}

/** A group profile's manual tag decision as the API records it; undefined for a profile that is not a group's. */
export function groupTagRecord(doc: ProfileDoc, tag: string, on: boolean, messageId: string, timestamp: number): GroupTagRecord | undefined {
  const group = doc.kind === 'group' ? doc.identifiers.find((i) => i.startsWith('group:')) : undefined;
  if (group === undefined) return undefined;
  return { type: 'group_tag', workspace: doc.workspace, messageId, groupId: group.slice(6), tag, on, timestamp, receivedAt: timestamp };
}

/** Scores as the API records them: each declared name to its value and, when given, the model. */
export type ScoresInput = Record<string, { value: number; model?: string }>;

/** Checks a scores body (`{ churn: 0.8 }` or `{ churn: { value: 0.8, model: "v3" } }`); throws PORTRAIT_SCORES_INVALID listing every problem. */
export function readScoresInput(raw: unknown, specs: ScoreSpecs): ScoresInput {
  const declared = [...specs.keys()].sort().join(', ') || 'none';
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw Errors.invalidScores([{ path: '', message: `must be an object of declared scores (${declared}) to numbers` }]);
  }
  const problems: Problem[] = [];
  if (Object.keys(raw).length === 0) problems.push({ path: '', message: `names no score (declared: ${declared})` });
  const { scores, problems: found } = readScores(raw, specs);
  problems.push(...scoreProblemsAt(found, ''));
  if (problems.length > 0) throw Errors.invalidScores(problems);
  const out: ScoresInput = {};
  for (const s of scores) out[s.name] = s.model !== undefined ? { value: s.value, model: s.model } : { value: s.value };
  return out;
}
