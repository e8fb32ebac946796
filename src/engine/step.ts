/**
 * One engine step: resolve identities and fold a batch of events into
 * profiles, in log order, against an in-memory view (the cache plus what was
 * prefetched). Produces the changeset the engine commits with the new log
 * position. Synchronous: every profile it may touch was loaded beforehand.
 */
import { groupTagEvent, type GroupTagRecord, type Json, type PortraitEvent } from '../core/event.ts';
import { identKey, type IdentityConflictReason } from '../core/identity.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { identifiersOf, refuseJoin, type EmailHasher, type EventIdentifiers, type GuardOptions } from '../identity/index.ts';
import { applyEvent, manualTagChanges, mergeDocs, needsConsentRefold, recordTraitChange, scoreChanges, traitValue, type ProfileRules, type TraitRuntime } from '../profile/index.ts';
import { sameJson } from '../profile/attributes.ts';
import { emptyChangeset, type Changeset } from '../storage/index.ts';
import { scoped } from '../storage/index.ts';
import type { BlockedLinks } from './blocked-links.ts';
import type { LruCache } from './cache.ts';
import { profileIdFor } from './profile-id.ts';

export interface StepContext {
  rules: ProfileRules;
  guards: GuardOptions;
  hashEmail: EmailHasher;
  profiles: LruCache<ProfileDoc>;
  /** Identifier → profile id (partitioned workers: or `>N`, owned by partition N). */
  identities: LruCache<string>;
  /** The links unmerges removed (a partitioned step adds those a handover brings). */
  blocked: BlockedLinks;
}

/** What made a link, merge or conflict: an event, or the link a control record carries on. */
export interface LinkSource {
  workspace: string;
  /** The message type (identify, alias, …). */
  type: string;
  messageId: string;
  timestamp: number;
}

/** An identifier an event links to its owner; `explicit`: an alias's previous id (may join two user ids). */
export interface LinkTarget {
  ident: string;
  explicit: boolean;
}

/**
 * The identifier keys a batch of events and group tag decisions may look up,
 * to prefetch them. `idsOut` receives each event's identifiers (undefined for
 * a tag decision), for `Step.apply` (computing them hashes emails).
 */
export function identKeysOf(records: ReadonlyArray<PortraitEvent | GroupTagRecord>, hashEmail: EmailHasher, idsOut: Array<EventIdentifiers | undefined> = []): Array<{ workspace: string; ident: string }> {
  const out: Array<{ workspace: string; ident: string }> = [];
  for (const r of records) {
    if (r.type === 'group_tag') {
      idsOut.push(undefined);
      out.push({ workspace: r.workspace, ident: identKey('group', r.groupId) });
      continue;
    }
    const ids = identifiersOf(r, hashEmail);
    idsOut.push(ids);
    pushIdentKeys(out, r.workspace, ids);
  }
  return out;
}

/** Adds the identifier keys one event's identifiers may look up: its owner, its links, both readings of an alias's previous id, its groups. */
export function pushIdentKeys(out: Array<{ workspace: string; ident: string }>, workspace: string, ids: EventIdentifiers): void {
  out.push({ workspace, ident: ids.owner });
  for (const l of ids.linked) out.push({ workspace, ident: l });
  if (ids.aliasPrevious !== undefined) out.push({ workspace, ident: `user:${ids.aliasPrevious}` }, { workspace, ident: `anon:${ids.aliasPrevious}` });
  for (const g of ids.groups ?? []) out.push({ workspace, ident: g });
}

/** Accumulates the effects of a batch; `changeset()` returns what to commit. */
export class Step {
  /** Profiles to write, by document (a merge replaces both sides' documents with a new one). */
  protected readonly dirty = new Set<ProfileDoc>();
  private readonly identityWrites = new Map<string, { workspace: string; ident: string; profileId: string; position: number }>();
  /** Profiles whose consents changed which earlier events count: refolded from the log before the commit. */
  protected readonly refolds = new Map<string, { workspace: string; id: string; position: number; messageId: string; time: number }>();
  readonly out: Changeset;
  /** The log position being applied (identity writes carry it). */
  protected at = 0;

  constructor(
    protected readonly ctx: StepContext,
    partition: number,
    position: number,
  ) {
    this.out = emptyChangeset(partition, position);
  }

  protected lookup(ws: string, ident: string): string | undefined {
    return this.ctx.identities.peek(ws, ident);
  }

  protected setIdentity(ws: string, ident: string, profileId: string): void {
    this.ctx.identities.set(ws, ident, profileId);
    this.identityWrites.set(scoped(ws, ident), { workspace: ws, ident, profileId, position: this.at });
  }

  protected doc(ws: string, id: string): ProfileDoc {
    const d = this.ctx.profiles.peek(ws, id);
    if (d === undefined) throw new Error(`engine invariant: profile ${id} was not loaded before the step`);
    return d;
  }

  protected touch(d: ProfileDoc): void {
    this.dirty.add(d);
  }

  /** A new profile for `ident`; a person's id begins with `receivedAt`, the arrival time of the event that makes it. */
  protected create(ws: string, kind: 'user' | 'group', ident: string, position: number, receivedAt?: number): ProfileDoc {
    const id = kind === 'user' ? profileIdFor('p', ws, ident, position, receivedAt) : profileIdFor('g', ws, ident, 0);
    const d = emptyProfile(id, ws, kind, position);
    d.identifiers.push(ident);
    this.ctx.profiles.set(ws, id, d);
    this.setIdentity(ws, ident, id);
    this.touch(d);
    return d;
  }

  protected addIdentifier(d: ProfileDoc, ident: string): void {
    d.identifiers.push(ident);
    d.identifiers.sort();
    this.setIdentity(d.workspace, ident, d.id);
    this.touch(d);
  }

  protected link(e: LinkSource, position: number, a: string, b: string): void {
    this.out.links.push({ workspace: e.workspace, a, b, via: e.type, position, messageId: e.messageId, time: e.timestamp });
  }

  protected conflict(e: LinkSource, position: number, reason: IdentityConflictReason, a: string, b: string, pa: string, pb: string): void {
    this.out.identityConflicts.push({ workspace: e.workspace, reason, a, b, profileA: pa, profileB: pb, position, messageId: e.messageId, time: e.timestamp });
  }

  protected isBlocked(ws: string, a: string, b: string): boolean {
    return this.ctx.blocked.has(ws, a, b);
  }

  /** The identifiers an event links to its owner (an alias's previous id resolved to a known user id, else a known anonymous id, else a user id). */
  protected linksOf(ws: string, ids: EventIdentifiers): LinkTarget[] {
    const links: LinkTarget[] = ids.linked.map((ident) => ({ ident, explicit: false }));
    if (ids.aliasPrevious !== undefined) {
      const asUser = `user:${ids.aliasPrevious}`;
      const asAnon = `anon:${ids.aliasPrevious}`;
      const prev = this.lookup(ws, asUser) !== undefined ? asUser : this.lookup(ws, asAnon) !== undefined ? asAnon : asUser;
      links.push({ ident: prev, explicit: true });
    }
    return links;
  }

  /** Resolves the event's identities (`ids`: computed already), merging where allowed, and folds it into its owner profile. */
  apply(e: PortraitEvent, position: number, ids: EventIdentifiers = identifiersOf(e, this.ctx.hashEmail)): void {
    this.at = position;
    const ws = e.workspace;
    const links = this.linksOf(ws, ids);
    let owner = this.lookup(ws, ids.owner) ?? this.join(e, position, ids.owner, links) ?? this.create(ws, 'user', ids.owner, position, e.receivedAt).id;
    for (const l of links) owner = this.linkOne(e, position, ids.owner, owner, l);
    this.fold(e, position, this.doc(ws, owner));
    for (const group of ids.groups ?? []) this.foldGroup(e, position, group);
  }

  /** Folds a group's manual tag decision into the group's profile, made when absent (as a group call makes it). */
  applyGroupTag(r: GroupTagRecord, position: number): void {
    this.at = position;
    this.foldGroup(groupTagEvent(r), position, identKey('group', r.groupId));
  }

  /** A new owner identifier joins a profile the event already links to, when the guards allow it; returns that profile's id. */
  protected join(e: LinkSource, position: number, owner: string, links: readonly LinkTarget[]): string | undefined {
    const ws = e.workspace;
    for (const l of links) {
      const q = this.lookup(ws, l.ident);
      if (q === undefined || this.isBlocked(ws, owner, l.ident)) continue;
      const qd = this.doc(ws, q);
      if (refuseJoin([owner], qd.identifiers, l.explicit, this.ctx.guards) !== undefined) continue;
      this.addIdentifier(qd, owner);
      this.link(e, position, owner, l.ident);
      return q;
    }
    return undefined;
  }

  /** Links one identifier to the owner's profile (`ownerId`), merging or refusing; returns the owner's profile id after it. */
  protected linkOne(e: LinkSource, position: number, ownerIdent: string, ownerId: string, l: LinkTarget): string {
    const ws = e.workspace;
    const od = this.doc(ws, ownerId);
    const q = this.lookup(ws, l.ident);
    if (q === ownerId) return ownerId;
    if (this.isBlocked(ws, ownerIdent, l.ident)) {
      this.conflict(e, position, 'unlinked', ownerIdent, l.ident, ownerId, q ?? '');
      return ownerId;
    }
    if (q === undefined) {
      const reason = refuseJoin(od.identifiers, [l.ident], l.explicit, this.ctx.guards);
      if (reason !== undefined) this.conflict(e, position, reason, ownerIdent, l.ident, ownerId, '');
      else {
        this.addIdentifier(od, l.ident);
        this.link(e, position, ownerIdent, l.ident);
      }
      return ownerId;
    }
    const qd = this.doc(ws, q);
    const reason = refuseJoin(od.identifiers, qd.identifiers, l.explicit, this.ctx.guards);
    if (reason !== undefined) {
      this.conflict(e, position, reason, ownerIdent, l.ident, ownerId, q);
      return ownerId;
    }
    return this.merge(e, position, od, qd, ownerIdent, l.ident).id;
  }

  /** Folds an event into its owner's profile. */
  protected fold(e: PortraitEvent, position: number, od: ProfileDoc, traits?: (t: TraitRuntime) => boolean): void {
    const ws = e.workspace;
    const r = applyEvent(od, e, this.ctx.rules, true, traits);
    this.touch(od);
    if (r.refold) this.refolds.set(scoped(ws, od.id), { workspace: ws, id: od.id, position, messageId: e.messageId, time: e.timestamp });
    this.record(e, position, od, r.changes);
    for (const x of r.rejections) {
      this.out.attributeConflicts.push({ workspace: ws, profileId: od.id, attribute: x.attribute, reason: x.reason, kept: x.kept, rejected: x.rejected, position, messageId: e.messageId });
    }
  }

  /** Folds an event that counts for a group into the group's profile. */
  protected foldGroup(e: PortraitEvent, position: number, group: string): void {
    const ws = e.workspace;
    const g = this.lookup(ws, group);
    const gd = g === undefined ? this.create(ws, 'group', group, position) : this.doc(ws, g);
    const gr = applyEvent(gd, e, this.ctx.rules, true);
    this.touch(gd);
    this.record(e, position, gd, gr.changes);
  }

  protected record(e: Pick<PortraitEvent, 'workspace' | 'messageId' | 'timestamp'>, position: number, d: ProfileDoc, changes: Record<string, [Json | undefined, Json | undefined]>): void {
    for (const _ in changes) {
      this.out.history.push({ workspace: e.workspace, profileId: d.id, position, messageId: e.messageId, time: e.timestamp, changes });
      return;
    }
  }

  /** Merges two profiles; the older one (by creating position, then id) survives. */
  private merge(e: LinkSource, position: number, x: ProfileDoc, y: ProfileDoc, a: string, b: string): ProfileDoc {
    const xFirst = x.createdAt !== y.createdAt ? x.createdAt < y.createdAt : x.id < y.id;
    const [survivor, absorbed] = xFirst ? [x, y] : [y, x];
    const merged = this.combine(e, position, survivor, absorbed, a, b);
    this.out.deletedProfiles.push({ workspace: e.workspace, id: absorbed.id });
    return merged;
  }

  /**
   * `absorbed` joins `survivor` (whose id the result keeps): the documents
   * merge, every identifier of `absorbed` maps to the result, and the link,
   * the merge and the changes are recorded.
   */
  protected combine(e: LinkSource, position: number, survivor: ProfileDoc, absorbed: ProfileDoc, a: string, b: string): ProfileDoc {
    const merged = mergeDocs(survivor, absorbed, this.ctx.rules);
    const ws = e.workspace;
    const flagged = this.refolds.delete(scoped(ws, survivor.id)) || this.refolds.delete(scoped(ws, absorbed.id));
    if (flagged || needsConsentRefold(survivor, absorbed, this.ctx.rules)) {
      this.refolds.set(scoped(ws, merged.id), { workspace: ws, id: merged.id, position, messageId: e.messageId, time: e.timestamp });
    }
    this.ctx.profiles.set(ws, merged.id, merged);
    if (absorbed.id !== merged.id) this.ctx.profiles.delete(ws, absorbed.id);
    this.dirty.delete(absorbed);
    this.dirty.delete(survivor);
    for (const ident of absorbed.identifiers) this.setIdentity(ws, ident, merged.id);
    this.touch(merged);
    this.link(e, position, a, b);
    this.out.merges.push({ kind: 'merge', workspace: ws, into: merged.id, from: absorbed.id, a, b, position, messageId: e.messageId, time: e.timestamp });
    this.record(e, position, merged, diffDocs(survivor, merged, this.ctx.rules, e.timestamp));
    return merged;
  }

  /** Whether a record of this step asked for a refold not taken yet. */
  refoldsWaiting(): boolean {
    return this.refolds.size > 0;
  }

  /** The profiles to refold (and forgets them): see `refolds`. */
  takeRefolds(): Array<{ workspace: string; id: string; position: number; messageId: string; time: number }> {
    const out = [...this.refolds.values()];
    this.refolds.clear();
    return out;
  }

  /** Records the changes a refold made to a profile of this step. */
  refolded(d: ProfileDoc, at: { position: number; messageId: string; time: number }, changes: Record<string, [Json | undefined, Json | undefined]>): void {
    this.touch(d);
    for (const _ in changes) {
      this.out.history.push({ workspace: d.workspace, profileId: d.id, position: at.position, messageId: at.messageId, time: at.time, changes });
      return;
    }
  }

  /** The changeset to commit, with every touched profile and identity. */
  changeset(position: number): Changeset {
    this.out.position = position;
    const deleted = new Set(this.out.deletedProfiles.map((d) => scoped(d.workspace, d.id)));
    for (const d of this.dirty) {
      if (deleted.size > 0 && deleted.has(scoped(d.workspace, d.id))) continue;
      this.out.profiles.push(d);
      // Refresh recency once per step rather than on every access.
      this.ctx.profiles.set(d.workspace, d.id, d);
    }
    // A profile created and absorbed within one step was never stored: deleting it is harmless.
    this.out.identities = [...this.identityWrites.values()];
    return this.out;
  }
}

/** Attribute, trait, score and manual tag values that differ between two versions of a profile, at time `at`. */
export function diffDocs(before: ProfileDoc, after: ProfileDoc, rules: ProfileRules, at: number): Record<string, [Json | undefined, Json | undefined]> {
  const changes: Record<string, [Json | undefined, Json | undefined]> = {};
  const names = new Set([...Object.keys(before.attributes), ...Object.keys(after.attributes)]);
  for (const n of names) {
    const o = before.attributes[n]?.v;
    const v = after.attributes[n]?.v;
    if (!sameJson(o, v)) changes[`attr.${n}`] = [o, v];
  }
  for (const t of rules.traits) recordTraitChange(changes, t, traitValue(before, t, at), traitValue(after, t, at));
  manualTagChanges(before, after, changes);
  return scoreChanges(before, after, changes);
}
