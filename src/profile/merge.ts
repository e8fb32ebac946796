/**
 * Merging two profile documents when an identity link joins them. Every part
 * is a mergeable summary, so the result equals the document folded from both
 * profiles' events: no re-scan of the log.
 */
import type { ProfileDoc, TraitState } from '../core/profile.ts';
import { pickAttribute } from './attributes.ts';
import type { ProfileRules } from './runtime.ts';

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
  const both = a.eventCount > 0 && b.eventCount > 0;
  return {
    id: a.id,
    workspace: a.workspace,
    kind: a.kind,
    identifiers: [...new Set([...a.identifiers, ...b.identifiers])].sort(),
    attributes,
    traits,
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
