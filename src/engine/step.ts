/**
 * One engine step: resolve identities and fold a batch of events into
 * profiles, in log order, against an in-memory view (the cache plus what was
 * prefetched). Produces the changeset the engine commits with the new log
 * position. Synchronous: every profile it may touch was loaded beforehand.
 */
import { hash } from 'node:crypto';
import type { Json, PortraitEvent } from '../core/event.ts';
import type { IdentityConflictReason } from '../core/identity.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { identifiersOf, refuseJoin, type EmailHasher, type EventIdentifiers, type GuardOptions } from '../identity/index.ts';
import { applyEvent, mergeDocs, needsConsentRefold, scoreChanges, traitValue, type ProfileRules } from '../profile/index.ts';
import { sameJson } from '../profile/attributes.ts';
import { emptyChangeset, type Changeset } from '../storage/index.ts';
import { scoped } from '../storage/index.ts';
import type { LruCache } from './cache.ts';

/** Deterministic profile ids: a rebuild from the same log names profiles the same way. */
export function profileIdFor(prefix: 'p' | 'g', workspace: string, ident: string, position: number): string {
  // One-shot hashing: the same SHA-256 as a Hash object, without creating one per new profile.
  const h = hash('sha256', `${workspace}\u0000${ident}\u0000${position}`, 'base64url');
  return `${prefix}_${h.slice(0, 20)}`;
}

export interface StepContext {
  rules: ProfileRules;
  guards: GuardOptions;
  hashEmail: EmailHasher;
  profiles: LruCache<ProfileDoc>;
  identities: LruCache<string>;
  /** Blocked links as `ws\0a\0b` with a < b. */
  blocked: ReadonlySet<string>;
  /**
   * Partitioned workers: whether an identifier key is homed in this engine's
   * partition. A profile only ever holds identifiers of one partition, so no
   * two partitions (and so no two workers) ever write one profile. Absent: all are.
   */
  home?: (workspace: string, ident: string) => boolean;
}

export function blockedKey(workspace: string, a: string, b: string): string {
  return a < b ? `${workspace}\u0000${a}\u0000${b}` : `${workspace}\u0000${b}\u0000${a}`;
}

/**
 * The identifier keys a batch may look up, to prefetch them. `idsOut` receives
 * each event's identifiers, for `Step.apply` (computing them hashes emails).
 */
export function identKeysOf(events: readonly PortraitEvent[], hashEmail: EmailHasher, idsOut: EventIdentifiers[] = []): Array<{ workspace: string; ident: string }> {
  const out: Array<{ workspace: string; ident: string }> = [];
  for (const e of events) {
    const ids = identifiersOf(e, hashEmail);
    idsOut.push(ids);
    out.push({ workspace: e.workspace, ident: ids.owner });
    for (const l of ids.linked) out.push({ workspace: e.workspace, ident: l });
    if (ids.aliasPrevious !== undefined) {
      out.push({ workspace: e.workspace, ident: `user:${ids.aliasPrevious}` }, { workspace: e.workspace, ident: `anon:${ids.aliasPrevious}` });
    }
    for (const g of ids.groups ?? []) out.push({ workspace: e.workspace, ident: g });
  }
  return out;
}

/** Accumulates the effects of a batch; `changeset()` returns what to commit. */
export class Step {
  /** Profiles to write, by document (a merge replaces both sides' documents with a new one). */
  private readonly dirty = new Set<ProfileDoc>();
  private readonly identityWrites = new Map<string, { workspace: string; ident: string; profileId: string }>();
  /** Profiles whose consents changed which earlier events count: refolded from the log before the commit. */
  private readonly refolds = new Map<string, { workspace: string; id: string; position: number; messageId: string; time: number }>();
  readonly out: Changeset;

  constructor(private readonly ctx: StepContext, partition: number, position: number) {
    this.out = emptyChangeset(partition, position);
  }

  private lookup(ws: string, ident: string): string | undefined {
    return this.ctx.identities.peek(ws, ident);
  }

  private setIdentity(ws: string, ident: string, profileId: string): void {
    this.ctx.identities.set(ws, ident, profileId);
    this.identityWrites.set(scoped(ws, ident), { workspace: ws, ident, profileId });
  }

  private doc(ws: string, id: string): ProfileDoc {
    const d = this.ctx.profiles.peek(ws, id);
    if (d === undefined) throw new Error(`engine invariant: profile ${id} was not loaded before the step`);
    return d;
  }

  private touch(d: ProfileDoc): void {
    this.dirty.add(d);
  }

  private create(ws: string, kind: 'user' | 'group', ident: string, position: number): ProfileDoc {
    const id = kind === 'user' ? profileIdFor('p', ws, ident, position) : profileIdFor('g', ws, ident, 0);
    const d = emptyProfile(id, ws, kind, position);
    d.identifiers.push(ident);
    this.ctx.profiles.set(ws, id, d);
    this.setIdentity(ws, ident, id);
    this.touch(d);
    return d;
  }

  private addIdentifier(d: ProfileDoc, ident: string): void {
    d.identifiers.push(ident);
    d.identifiers.sort();
    this.setIdentity(d.workspace, ident, d.id);
    this.touch(d);
  }

  private link(e: PortraitEvent, position: number, a: string, b: string): void {
    this.out.links.push({ workspace: e.workspace, a, b, via: e.type, position, messageId: e.messageId, time: e.timestamp });
  }

  private conflict(e: PortraitEvent, position: number, reason: IdentityConflictReason, a: string, b: string, pa: string, pb: string): void {
    this.out.identityConflicts.push({ workspace: e.workspace, reason, a, b, profileA: pa, profileB: pb, position, messageId: e.messageId, time: e.timestamp });
  }

  private isBlocked(ws: string, a: string, b: string): boolean {
    return this.ctx.blocked.size > 0 && this.ctx.blocked.has(blockedKey(ws, a, b));
  }

  private isHome(ws: string, ident: string): boolean {
    return this.ctx.home === undefined || this.ctx.home(ws, ident);
  }

  /** Resolves the event's identities (`ids`: computed already), merging where allowed, and folds it into its owner profile. */
  apply(e: PortraitEvent, position: number, ids: EventIdentifiers = identifiersOf(e, this.ctx.hashEmail)): void {
    const ws = e.workspace;
    const links: Array<{ ident: string; explicit: boolean }> = ids.linked.map((ident) => ({ ident, explicit: false }));
    if (ids.aliasPrevious !== undefined) {
      const asUser = `user:${ids.aliasPrevious}`;
      const asAnon = `anon:${ids.aliasPrevious}`;
      const prev = this.lookup(ws, asUser) !== undefined ? asUser : this.lookup(ws, asAnon) !== undefined ? asAnon : asUser;
      links.push({ ident: prev, explicit: true });
    }

    let owner = this.lookup(ws, ids.owner);
    if (owner === undefined) {
      // Join the owner to a profile the event already links to, when the guards allow it.
      for (const l of links) {
        const q = this.lookup(ws, l.ident);
        if (q === undefined || this.isBlocked(ws, ids.owner, l.ident) || !this.isHome(ws, l.ident)) continue;
        const qd = this.doc(ws, q);
        if (refuseJoin([ids.owner], qd.identifiers, l.explicit, this.ctx.guards) !== undefined) continue;
        this.addIdentifier(qd, ids.owner);
        this.link(e, position, ids.owner, l.ident);
        owner = q;
        break;
      }
      if (owner === undefined) owner = this.create(ws, 'user', ids.owner, position).id;
    }

    for (const l of links) {
      const od = this.doc(ws, owner);
      const q = this.lookup(ws, l.ident);
      if (q === owner) continue;
      if (!this.isHome(ws, l.ident)) {
        this.conflict(e, position, 'other_partition', ids.owner, l.ident, owner, '');
        continue;
      }
      if (this.isBlocked(ws, ids.owner, l.ident)) {
        this.conflict(e, position, 'unlinked', ids.owner, l.ident, owner, q ?? '');
        continue;
      }
      if (q === undefined) {
        const reason = refuseJoin(od.identifiers, [l.ident], l.explicit, this.ctx.guards);
        if (reason !== undefined) this.conflict(e, position, reason, ids.owner, l.ident, owner, '');
        else {
          this.addIdentifier(od, l.ident);
          this.link(e, position, ids.owner, l.ident);
        }
        continue;
      }
      const qd = this.doc(ws, q);
      const reason = refuseJoin(od.identifiers, qd.identifiers, l.explicit, this.ctx.guards);
      if (reason !== undefined) {
        this.conflict(e, position, reason, ids.owner, l.ident, owner, q);
        continue;
      }
      owner = this.merge(e, position, od, qd, ids.owner, l.ident).id;
    }

    const od = this.doc(ws, owner);
    const r = applyEvent(od, e, this.ctx.rules, true);
    this.touch(od);
    if (r.refold) this.refolds.set(scoped(ws, od.id), { workspace: ws, id: od.id, position, messageId: e.messageId, time: e.timestamp });
    this.record(e, position, od, r.changes);
    for (const x of r.rejections) {
      this.out.attributeConflicts.push({ workspace: ws, profileId: od.id, attribute: x.attribute, reason: x.reason, kept: x.kept, rejected: x.rejected, position, messageId: e.messageId });
    }

    for (const group of ids.groups ?? []) {
      if (!this.isHome(ws, group)) continue;
      const g = this.lookup(ws, group);
      const gd = g === undefined ? this.create(ws, 'group', group, position) : this.doc(ws, g);
      const gr = applyEvent(gd, e, this.ctx.rules, true);
      this.touch(gd);
      this.record(e, position, gd, gr.changes);
    }
  }

  private record(e: PortraitEvent, position: number, d: ProfileDoc, changes: Record<string, [Json | undefined, Json | undefined]>): void {
    for (const _ in changes) {
      this.out.history.push({ workspace: e.workspace, profileId: d.id, position, messageId: e.messageId, time: e.timestamp, changes });
      return;
    }
  }

  /** Merges two profiles; the older one (by creating position, then id) survives. */
  private merge(e: PortraitEvent, position: number, x: ProfileDoc, y: ProfileDoc, a: string, b: string): ProfileDoc {
    const xFirst = x.createdAt !== y.createdAt ? x.createdAt < y.createdAt : x.id < y.id;
    const [survivor, absorbed] = xFirst ? [x, y] : [y, x];
    const merged = mergeDocs(survivor, absorbed, this.ctx.rules);
    const ws = e.workspace;
    const flagged = this.refolds.delete(scoped(ws, survivor.id)) || this.refolds.delete(scoped(ws, absorbed.id));
    if (flagged || needsConsentRefold(survivor, absorbed, this.ctx.rules)) {
      this.refolds.set(scoped(ws, merged.id), { workspace: ws, id: merged.id, position, messageId: e.messageId, time: e.timestamp });
    }
    this.ctx.profiles.set(ws, merged.id, merged);
    this.ctx.profiles.delete(ws, absorbed.id);
    this.dirty.delete(absorbed);
    this.dirty.delete(survivor);
    this.out.deletedProfiles.push({ workspace: ws, id: absorbed.id });
    for (const ident of absorbed.identifiers) this.setIdentity(ws, ident, merged.id);
    this.touch(merged);
    this.link(e, position, a, b);
    this.out.merges.push({ kind: 'merge', workspace: ws, into: merged.id, from: absorbed.id, a, b, position, messageId: e.messageId, time: e.timestamp });
    this.record(e, position, merged, diffDocs(survivor, merged, this.ctx.rules, e.timestamp));
    return merged;
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

/** Attribute, trait and score values that differ between two versions of a profile, at time `at`. */
export function diffDocs(before: ProfileDoc, after: ProfileDoc, rules: ProfileRules, at: number): Record<string, [Json | undefined, Json | undefined]> {
  const changes: Record<string, [Json | undefined, Json | undefined]> = {};
  const names = new Set([...Object.keys(before.attributes), ...Object.keys(after.attributes)]);
  for (const n of names) {
    const o = before.attributes[n]?.v;
    const v = after.attributes[n]?.v;
    if (!sameJson(o, v)) changes[`attr.${n}`] = [o, v];
  }
  for (const t of rules.traits) {
    const o = traitValue(before, t, at);
    const v = traitValue(after, t, at);
    if (!sameJson(o, v)) changes[`trait.${t.name}`] = [o, v];
  }
  return scoreChanges(before, after, changes);
}
