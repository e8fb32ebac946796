/**
 * Erasure by any identifier. The request side (`requestErasure`) resolves the
 * profile, suppresses its identifiers and appends an `erase` record to the
 * log; the engine, the only writer of profile state, meets that record in
 * order and calls `applyErasure`: it deletes the person's events from the log,
 * then everything derived from them in one state transaction that also
 * completes the ledger entry.
 */
import { randomBytes } from 'node:crypto';
import { Errors } from '../core/errors.ts';
import { groupIdsOf, type EraseRecord, type PortraitEvent, type Positioned } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { applyEvent, type ProfileRules, type TraitRuntime } from '../profile/index.ts';
import type { EmailHasher } from '../identity/index.ts';
import { partitionOf, type EventLog } from '../log/index.ts';
import { identValue, logIdsOf } from '../core/identity.ts';
import type { ErasurePlan, ErasureRow, HistoryEntry, StateStore } from '../storage/index.ts';
import { scoped } from '../storage/index.ts';
import type { ControlRecord } from '../core/control.ts';
import { rawIdentKeys, type SuppressionList } from './suppression.ts';

export interface ErasureRequest {
  workspace: string;
  profileId: string;
  /** The profile's identifier keys now (more may join before the engine gets there; it reads them again). */
  identKeys: readonly string[];
  keyId: string | null;
  now: number;
  /**
   * Keep the identifiers in the suppression list so late events cannot
   * recreate the person (a request of the person). A retention deletion of
   * an inactive profile passes false: the person may come back.
   */
  suppress: boolean;
}

/**
 * Writes the ledger entry and the suppression rows (before the erase record,
 * so no late event slips in between), then appends the erase record.
 */
export async function requestErasure(r: ErasureRequest, deps: { store: StateStore; log: EventLog; suppression: SuppressionList; partitions: number }): Promise<ErasureRow> {
  const privacy = deps.store.privacy;
  if (privacy === undefined) throw Errors.notOnThisBackend('Erasure');
  const id = `er_${randomBytes(12).toString('hex')}`;
  // The record names the identifiers by these hashes whether or not they are suppressed (partitioned workers keep them, see ErasedIdentifier).
  const hashes = r.identKeys.map((k) => deps.suppression.hash(r.workspace, k));
  const suppressed = r.suppress ? hashes : [];
  const row: ErasureRow = { id, workspace: r.workspace, status: 'pending', requestedAt: r.now, completedAt: null, keyId: r.keyId, counts: {} };
  await privacy.requestErasure(row, suppressed);
  // From here ingest refuses the person's events; appends already queued land before the record.
  deps.suppression.add(r.workspace, suppressed);
  // On a partitioned log the record goes to the partition that owns the profile (by default that of its user, else anonymous id).
  const owner = r.identKeys.find((k) => k.startsWith('user:')) ?? r.identKeys.find((k) => k.startsWith('anon:'));
  const held = deps.partitions > 1 ? await deps.store.ownerOf?.(r.workspace, r.profileId) : undefined;
  const record: EraseRecord = {
    type: 'erase',
    workspace: r.workspace,
    messageId: `erase-${id}`,
    erasureId: id,
    profileId: r.profileId,
    ...(held !== undefined ? { partition: held } : owner !== undefined && { partition: partitionOf(r.workspace, identValue(owner), deps.partitions) }),
    hashes,
    keyId: r.keyId,
    timestamp: r.now,
    receivedAt: r.now,
  };
  await deps.log.append([record]);
  return row;
}

/** Whether a quarantined raw message names any of the identifier keys (or, when not JSON, contains an id verbatim). */
export function quarantineMatcher(workspace: string, identKeys: readonly string[], hashEmail: EmailHasher): (raw: string) => boolean {
  const keys = new Set(identKeys);
  // Only distinctive ids are searched as text: a short one would match unrelated rows.
  const verbatim = identKeys.filter((k) => k.startsWith('user:') || k.startsWith('anon:')).map((k) => k.slice(5)).filter((v) => v.length >= 6);
  return (raw) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return verbatim.some((v) => raw.includes(v));
    }
    return rawIdentKeys(parsed, hashEmail, workspace).some((k) => keys.has(k));
  };
}

/**
 * A group profile recomputed from the group calls left, as the engine would
 * have built it from them: the same document and the same history entries
 * (each call's changes, in log order), so a rebuild finds the same state.
 */
export function refoldGroup(
  base: Pick<ProfileDoc, 'id' | 'workspace' | 'identifiers'>,
  events: readonly Positioned<PortraitEvent>[],
  rules: ProfileRules,
  covers: (t: TraitRuntime, position: number) => boolean,
): { doc: ProfileDoc; history: HistoryEntry[] } {
  // The engine creates a group profile at the position of its first call.
  const doc = emptyProfile(base.id, base.workspace, 'group', events[0]!.position);
  doc.identifiers = [...base.identifiers].sort();
  const history: HistoryEntry[] = [];
  for (const { position, record } of events) {
    const r = applyEvent(doc, record, rules, true, (t) => covers(t, position));
    if (Object.keys(r.changes).length > 0) history.push({ workspace: base.workspace, profileId: base.id, position, messageId: record.messageId, time: record.timestamp, changes: r.changes });
  }
  return { doc, history };
}

/**
 * Partitioned workers: the groups a partition recomputes after an erasure
 * (those homed in it: each partition writes its own), and the events it
 * leaves out (the stream keeps the person's events: those from before the
 * erasure of someone they name).
 */
export interface GroupScope {
  here: (groupId: string) => boolean;
  leaveOut: (e: Positioned<PortraitEvent>) => boolean;
}

/** The ids of the groups the events of a person (their identifier keys) appended up to `upTo` counted for, sorted. */
export async function groupsFedBy(log: EventLog, workspace: string, identKeys: readonly string[], upTo: number): Promise<string[]> {
  const groupIds = new Set<string>();
  if (identKeys.length > 0) for (const e of await log.eventsFor(workspace, logIdsOf(identKeys), { upTo })) for (const g of groupIdsOf(e.record)) groupIds.add(g);
  return [...groupIds].sort();
}

/**
 * The group profiles among `groupIds` recomputed from the events the log
 * holds for them up to `position`: each one's new document and history, or
 * null when no event is left. Partitioned (`scope`): only those homed here,
 * without the events `scope` leaves out, each marked recomputed up to
 * `position` (forwarded events from then or before are in it already).
 */
export async function recomputeGroups(
  workspace: string,
  groupIds: Iterable<string>,
  position: number,
  deps: { log: EventLog; store: StateStore; rules: ProfileRules; covers: (t: TraitRuntime, position: number) => boolean; scope?: GroupScope },
): Promise<ErasurePlan['groups']> {
  const groups: ErasurePlan['groups'] = [];
  const scope = deps.scope;
  for (const groupId of [...groupIds].sort()) {
    if (scope !== undefined && !scope.here(groupId)) continue;
    const ident = `group:${groupId}`;
    const id = (await deps.store.identities([{ workspace, ident }])).get(scoped(workspace, ident));
    const current = id === undefined ? undefined : (await deps.store.profiles([{ workspace, id }])).get(scoped(workspace, id));
    if (current === undefined) continue;
    const events = await deps.log.groupEvents(workspace, groupId, { upTo: position });
    const left = scope === undefined ? events : events.filter((e) => !scope.leaveOut(e));
    if (left.length === 0) {
      groups.push({ id: current.id, ident, doc: null, history: [] });
      continue;
    }
    const refolded = refoldGroup(current, left, deps.rules, deps.covers);
    if (scope !== undefined) refolded.doc.refoldedTo = position;
    groups.push({ id: current.id, ident, ...refolded });
  }
  return groups;
}

export interface AppliedErasure {
  workspace: string;
  /** Profiles removed or recomputed (to drop from caches). */
  profileIds: string[];
  /** Identifier keys removed. */
  identKeys: string[];
}

/**
 * The profile the erase record names or, when an identity merge absorbed it
 * after the request, the profile it was merged into (its data is there now).
 */
export async function liveProfile(store: StateStore, workspace: string, id: string): Promise<{ profileId: string; doc: ProfileDoc | undefined }> {
  const seen = new Set<string>();
  let current = id;
  for (;;) {
    const doc = (await store.profiles([{ workspace, id: current }])).get(scoped(workspace, current));
    if (doc !== undefined) return { profileId: current, doc };
    seen.add(current);
    const next = (await store.merges(workspace, current)).find((m) => m.kind === 'merge' && m.from === current)?.into;
    if (next === undefined || seen.has(next)) return { profileId: id, doc: undefined };
    current = next;
  }
}

/**
 * The profile an erase record erases in this engine: the live one its
 * profile id leads to. On partitioned workers only one this partition owns:
 * a profile it handed down before the record is another partition's, which
 * may or may not have taken it over (or merged it) by now; that partition
 * forgets it on the `forget` record sent with the erasure, so what is erased
 * here does not depend on how far the other partition got (a rebuild races
 * differently).
 */
async function erasedHere(r: EraseRecord, deps: { store: StateStore; partition: number; forget?: unknown }): Promise<{ profileId: string; doc: ProfileDoc | undefined }> {
  const live = await liveProfile(deps.store, r.workspace, r.profileId);
  if (deps.forget === undefined || live.doc === undefined) return live;
  return (await deps.store.ownerOf?.(r.workspace, live.profileId)) === deps.partition ? live : { profileId: r.profileId, doc: undefined };
}

/**
 * The engine's part, at the erase record's position: deletes the person's
 * events (idempotent, so done first: a crash before the state commit
 * replays the record), then the state. A profile that no longer exists (a
 * rebuild, whose log no longer holds the events) erases nothing.
 */
export async function applyErasure(
  p: Positioned<EraseRecord>,
  deps: {
    log: EventLog;
    store: StateStore;
    hashEmail: EmailHasher;
    partition: number;
    now: number;
    /** Where the size history records the new sizes of the segments the person leaves (default: now). */
    sizesAt?: number;
    rules: ProfileRules;
    covers: (t: TraitRuntime, position: number) => boolean;
    /** Partitioned workers: the records telling the other partitions to forget the person (and recompute the groups they fed). */
    forget?: (profileIds: string[], identKeys: string[], groups: string[]) => ControlRecord[];
    /** Partitioned workers: this partition's rows of the identifiers erased. */
    erased?: ErasurePlan['erased'];
    /** Partitioned workers: the groups recomputed here, and the events left out. */
    groups?: GroupScope;
    /** Partitioned workers: the fence of the engine's commits (ErasurePlan.expectPosition, expectLease). */
    fence?: Pick<ErasurePlan, 'expectPosition' | 'expectLease'>;
  },
): Promise<AppliedErasure> {
  const privacy = deps.store.privacy;
  if (privacy === undefined) throw Errors.notOnThisBackend('Erasure');
  const { workspace, erasureId } = p.record;
  const { profileId, doc } = await erasedHere(p.record, deps);
  const identKeys = doc?.identifiers ?? [];
  const { userIds, anonymousIds } = logIdsOf(identKeys);
  // The groups the person's calls fed: recomputed below from the calls of the other members.
  const groupIds = await groupsFedBy(deps.log, workspace, identKeys, p.position);
  const events = identKeys.length > 0 ? await deps.log.erase(workspace, { userIds, anonymousIds, identKeys: [...identKeys] }, p.position) : { deleted: 0, redacted: 0 };
  const groups = await recomputeGroups(workspace, groupIds, p.position, { ...deps, ...(deps.groups !== undefined && { scope: deps.groups }) });
  const forget = deps.forget;
  const { profileIds } = await privacy.erase({
    groups,
    workspace,
    erasureId,
    profileId,
    identKeys: [...identKeys],
    events: events.deleted,
    eventsRedacted: events.redacted,
    quarantineMatches: identKeys.length > 0 ? quarantineMatcher(workspace, identKeys, deps.hashEmail) : () => false,
    partition: deps.partition,
    position: p.position,
    completedAt: deps.now,
    sizesAt: deps.sizesAt ?? deps.now,
    ...(forget !== undefined && { forget: (P: string[], I: string[]) => forget(P, I, groupIds) }),
    ...(deps.erased !== undefined && { erased: deps.erased }),
    ...deps.fence,
  });
  return { workspace, profileIds: [...profileIds, ...groups.map((g) => g.id)], identKeys: [...identKeys, ...groups.filter((g) => g.doc === null).map((g) => g.ident)] };
}
