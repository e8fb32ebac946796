/** The read model of a profile: what the API and the library return. */
import type { Json } from '../core/event.ts';
import type { ConsentSource, ProfileDoc } from '../core/profile.ts';
import type { TraitRuntime } from './runtime.ts';
import { scoreViews, type ScoreView } from './scores.ts';

export interface ProfileIdentities {
  userIds: string[];
  anonymousIds: string[];
  /** Keyed hashes of normalised emails. */
  emailHashes: string[];
  externalIds: Array<{ type: string; id: string }>;
}

/** One purpose's consent as the API shows it. */
export interface ConsentView {
  granted: boolean;
  /** Event time of the decision, ISO 8601. */
  time: string;
  source: ConsentSource;
  /** The message that carried it. */
  messageId: string;
}

export type TraitReading = Json | { status: 'backfilling'; progress: number };

export interface ProfileView {
  id: string;
  workspace: string;
  kind: ProfileDoc['kind'];
  identities: ProfileIdentities;
  attributes: Record<string, Json>;
  traits: Record<string, TraitReading>;
  groups: string[];
  /** Consent per purpose (purposes without a decision are absent: not granted). */
  consents: Record<string, ConsentView>;
  /** Declared scores the profile holds, by name (model outputs, as last sent). */
  scores: Record<string, ScoreView>;
  firstSeen: string | null;
  lastSeen: string | null;
  eventCount: number;
}

export function splitIdentifiers(identifiers: readonly string[]): ProfileIdentities {
  const out: ProfileIdentities = { userIds: [], anonymousIds: [], emailHashes: [], externalIds: [] };
  for (const i of identifiers) {
    if (i.startsWith('user:')) out.userIds.push(i.slice(5));
    else if (i.startsWith('anon:')) out.anonymousIds.push(i.slice(5));
    else if (i.startsWith('email:')) out.emailHashes.push(i.slice(6));
    else if (i.startsWith('ext:')) {
      const rest = i.slice(4);
      const c = rest.indexOf(':');
      out.externalIds.push({ type: rest.slice(0, c), id: rest.slice(c + 1) });
    }
  }
  return out;
}

/** One computed trait's value at time `now` (a state of another definition version reads as empty). */
export function traitValue(doc: ProfileDoc, t: TraitRuntime, now: number): Json {
  const st = doc.traits[t.name];
  const state = st !== undefined && st.h === t.hash ? st.s : t.aggregator.init();
  return t.aggregator.value(state, now) as Json;
}

/**
 * Builds the view at time `now`. `backfilling` maps a trait still being
 * backfilled to its progress (0..1): such a trait reads as backfilling, never
 * as a partial number.
 */
export function viewOf(doc: ProfileDoc, traits: readonly TraitRuntime[], now: number, backfilling: ReadonlyMap<string, number> = new Map()): ProfileView {
  const attributes: Record<string, Json> = {};
  for (const k of Object.keys(doc.attributes).sort()) attributes[k] = doc.attributes[k]!.v;
  const values: Record<string, TraitReading> = {};
  for (const t of traits) {
    const progress = backfilling.get(t.name);
    if (progress !== undefined) {
      values[t.name] = { status: 'backfilling', progress };
      continue;
    }
    values[t.name] = traitValue(doc, t, now);
  }
  return {
    id: doc.id,
    workspace: doc.workspace,
    kind: doc.kind,
    identities: splitIdentifiers(doc.identifiers),
    attributes,
    traits: values,
    groups: [...doc.groups],
    consents: consentViews(doc),
    scores: scoreViews(doc),
    firstSeen: doc.eventCount > 0 ? new Date(doc.firstSeen).toISOString() : null,
    lastSeen: doc.eventCount > 0 ? new Date(doc.lastSeen).toISOString() : null,
    eventCount: doc.eventCount,
  };
}

/** The profile's consents as the API shows them, by purpose. */
export function consentViews(doc: ProfileDoc): Record<string, ConsentView> {
  const out: Record<string, ConsentView> = {};
  for (const p of Object.keys(doc.consents ?? {}).sort()) {
    const c = doc.consents![p]!;
    out[p] = { granted: c.granted, time: new Date(c.t).toISOString(), source: c.source, messageId: c.id };
  }
  return out;
}
