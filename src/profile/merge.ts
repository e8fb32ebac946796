/**
 * Merging two profile documents when an identity link joins them. Every part
 * is a mergeable summary, so the result equals the document folded from both
 * profiles' events: no re-scan of the log.
 */
import { compareEventOrder } from '../core/event.ts';
import type { ConsentRecord, ProfileDoc, TraitState } from '../core/profile.ts';
import { pickAttribute } from './attributes.ts';
import type { ProfileRules } from './runtime.ts';
import { mergeManualTags } from './manual-tags.ts';
import { hasPurposeScores, mergeScores } from './scores.ts';

/** The merge of `a` and `b`, carrying `a`'s id. Neither argument is changed. */
export function mergeDocs(a: ProfileDoc, b: ProfileDoc, rules: ProfileRules): ProfileDoc {
  const attributes: ProfileDoc['attributes'] = { ...a.attributes };
  for (const [name, bv] of Object.entries(b.attributes)) {
    const av = attributes[name];
    attributes[name] = av === undefined ? bv : pickAttribute(name, av, bv, rules.attributes);
  }
  const traits: ProfileDoc['traits'] = {};
  for (const t of rules.traits) {
    const as = current(a.traits[t.name], t.hash);
    const bs = current(b.traits[t.name], t.hash);
    if (as && bs) traits[t.name] = { h: t.hash, s: t.aggregator.merge(as.s, bs.s) };
    else if (as) traits[t.name] = { h: t.hash, s: structuredClone(as.s) };
    else if (bs) traits[t.name] = { h: t.hash, s: structuredClone(bs.s) };
  }
  const consents = mergeConsents(a.consents, b.consents);
  const scores = mergeScores(a.scores, b.scores);
  const tags = mergeManualTags(a.tags, b.tags);
  const both = a.eventCount > 0 && b.eventCount > 0;
  return {
    id: a.id,
    workspace: a.workspace,
    kind: a.kind,
    identifiers: [...new Set([...a.identifiers, ...b.identifiers])].sort(),
    attributes,
    traits,
    ...(consents !== undefined ? { consents } : {}),
    ...(scores !== undefined ? { scores } : {}),
    ...(tags !== undefined ? { tags } : {}),
    groups: [...new Set([...a.groups, ...b.groups])].sort(),
    firstSeen: both ? Math.min(a.firstSeen, b.firstSeen) : a.eventCount > 0 ? a.firstSeen : b.firstSeen,
    lastSeen: both ? Math.max(a.lastSeen, b.lastSeen) : a.eventCount > 0 ? a.lastSeen : b.lastSeen,
    eventCount: a.eventCount + b.eventCount,
    createdAt: Math.min(a.createdAt, b.createdAt),
  };
}

function current(s: TraitState | undefined, hash: string): TraitState | undefined {
  return s !== undefined && s.h === hash ? s : undefined;
}

/**
 * Per purpose the latest decision by event time wins. Where both sides were
 * granted, the run of grants starts at the earlier start: provisional, since
 * the exact start depends on both sides' decisions together; the engine
 * refolds a merged profile whose sides both hold consents (see needsConsentRefold).
 */
function mergeConsents(a: ProfileDoc['consents'], b: ProfileDoc['consents']): ProfileDoc['consents'] {
  if (a === undefined) return b === undefined ? undefined : structuredClone(b);
  if (b === undefined) return structuredClone(a);
  const out: Record<string, ConsentRecord> = {};
  for (const p of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = Object.hasOwn(a, p) ? a[p] : undefined;
    const y = Object.hasOwn(b, p) ? b[p] : undefined;
    if (x === undefined || y === undefined) {
      out[p] = { ...(x ?? y)! };
      continue;
    }
    const w = compareEventOrder(x.t, x.id, y.t, y.id) >= 0 ? x : y;
    const o = w === x ? y : x;
    out[p] = w.granted && o.granted && o.s! < w.s! ? { ...w, s: o.s! } : { ...w };
  }
  return out;
}

/**
 * Whether merging `a` and `b` may leave consents, purpose-bound traits or
 * purpose-bound scores other than a fold of all their events gives: each
 * side counted its events under its own consents only.
 */
export function needsConsentRefold(a: ProfileDoc, b: ProfileDoc, rules: ProfileRules): boolean {
  const ca = a.consents !== undefined;
  const cb = b.consents !== undefined;
  if (ca && cb) return true;
  return (ca || cb) && (rules.traits.some((t) => t.purpose !== undefined) || hasPurposeScores(rules.scores));
}
