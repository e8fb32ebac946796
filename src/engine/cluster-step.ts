/**
 * The engine step of one partition of a scale-out deployment. A profile is
 * owned by one partition (which alone writes it); identifiers are homed in
 * the partition their value hashes to, and a partition's routes say, for the
 * identifiers it knows, which of its profiles holds them or which partition
 * it handed them to. Links that reach another partition's profile travel as
 * control records (core/control.ts) appended to that partition's log:
 *
 * - an event whose owner lives elsewhere is forwarded there, once;
 * - a link to an identifier known elsewhere asks for it (`link`); its owner
 *   applies the guards with the asker's identifiers, then hands its profile
 *   down to the asker when the asker's partition number is lower, and else
 *   asks the asker to hand its profile over (`give`); a free identifier is
 *   granted (`grant`);
 * - a `handover` carries a whole profile document; the receiver merges it
 *   into the profile of the target identifier with `mergeDocs`, as an
 *   embedded merge does. It carries the links unmerges removed that name the
 *   profile's identifiers too, and the receiver blocks them: every partition
 *   owning a profile holds the blocks naming its identifiers, so whichever
 *   answers a link (its owner, with the guards) refuses a removed one, as
 *   the embedded mode does. Carried in the record, they are part of the
 *   receiver's log, and a rebuild reaches the same blocks in any order of
 *   partitions (blocks read from a shared table would depend on how far the
 *   partition that recorded them had got).
 *
 * Profiles only ever move towards lower partition numbers when two of them
 * merge, so two partitions never hand profiles to each other forever. The
 * receiving profile keeps its id; a profile that arrives alone gets a new id
 * made here, so every profile id is written by one partition only.
 */
import { awayTarget, awayTo, controlAfter, controlMessageId, type ControlBody, type ControlRecord, type LinkMeta } from '../core/control.ts';
import { groupTagEvent, type GroupTagRecord, type PortraitEvent, type Positioned } from '../core/event.ts';
import { identKey } from '../core/identity.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { consentAllows, type TraitRuntime } from '../profile/index.ts';
import { identifiersOf, refuseJoin, type EventIdentifiers } from '../identity/index.ts';
import { eventIdentKeys } from '../privacy/suppression.ts';
import { namedBy } from './control-keys.ts';
import type { ErasedIdentifiers } from './erased.ts';
import { Step, type LinkSource, type LinkTarget, type StepContext } from './step.ts';
import { profileIdFor } from './profile-id.ts';

/** Whether a control record is new (not applied before, by source partition and position); records it as applied. */
export function markApplied(applied: Map<number, { at: number; index: number }>, c: ControlRecord): boolean {
  const last = applied.get(c.from);
  if (last !== undefined && !controlAfter(c.at, c.index, last.at, last.index)) return false;
  applied.set(c.from, { at: c.at, index: c.index });
  return true;
}

export interface PartitionContext {
  partition: number;
  /** The partition an identifier key is homed in. */
  homeOf: (workspace: string, ident: string) => number;
  /** The last control record applied per source partition (kept by the engine across steps). */
  applied: Map<number, { at: number; index: number }>;
  /** The identifiers erased here: records from before their erasure that name them are dropped (kept by the engine across steps). */
  erased: ErasedIdentifiers;
  /** Opens the sealed values of a handed-over document. */
  openDoc: (doc: ProfileDoc) => ProfileDoc;
  /**
   * A partition's trait backfill for a definition (its version and target),
   * as stored when that partition started it; undefined while it has not
   * (the engine loads them before a step needs them).
   */
  backfillOf: (partition: number, name: string) => { hash: string; target: number } | undefined;
  /** The fingerprint of the trait versions this step folds under (carried by the records it makes). */
  versions: string;
}

/** Where an identifier's profile is, seen from this partition. */
type Where = { local: string } | { away: number } | { free: true };

/** A link that leaves the partition. */
interface CrossLink extends LinkTarget {
  to: number;
  /** An alias's previous id whose kind (user or anonymous) its home decides. */
  alias?: true;
}

export class ClusterStep extends Step {
  private readonly p: number;
  private lastAt = -1;
  private index = 0;

  constructor(
    ctx: StepContext,
    private readonly part: PartitionContext,
    position: number,
  ) {
    super(ctx, part.partition, position);
    this.p = part.partition;
    this.out.routes = true;
    this.out.control = [];
  }

  private where(ws: string, ident: string): Where {
    const r = this.lookup(ws, ident);
    if (r !== undefined) {
      const t = awayTarget(r);
      return t === undefined ? { local: r } : { away: t };
    }
    const home = this.part.homeOf(ws, ident);
    return home === this.p ? { free: true } : { away: home };
  }

  /** Appends a control record for partition `to`, made at log position `position`. */
  private emit(to: number, body: ControlBody, src: { workspace: string; timestamp: number }, position: number): void {
    if (position !== this.lastAt) {
      this.lastAt = position;
      this.index = 0;
    }
    const index = this.index++;
    const rec: ControlRecord = { type: 'control', workspace: src.workspace, messageId: controlMessageId(this.p, position, index), from: this.p, at: position, index, to, body, defs: this.part.versions, timestamp: src.timestamp, receivedAt: src.timestamp };
    this.out.control!.push(rec);
  }

  private fresh(c: ControlRecord): boolean {
    return markApplied(this.part.applied, c);
  }

  /** The applied marks to commit (all of them: a handful of rows, one per source partition). */
  override changeset(position: number) {
    const c = super.changeset(position);
    c.controlApplied = [...this.part.applied].map(([source, a]) => ({ source, at: a.at, index: a.index }));
    const erased = this.part.erased.take();
    if (erased.length > 0) c.erased = erased;
    return c;
  }

  /** Applies an event, or a forwarded one (`fwd`), at `position`. */
  applyAt(row: Positioned<PortraitEvent>, ids: EventIdentifiers = identifiersOf(row.record, this.ctx.hashEmail)): void {
    const e = row.record;
    const position = row.position;
    this.at = position;
    const fwd = row.forwarded;
    if (fwd !== undefined && !this.fresh(fwd.control)) return;
    const of = fwd !== undefined && fwd.control.body.kind === 'forward' ? fwd.control.body.of : position;
    const ws = e.workspace;
    // Appended before the erasure of someone it names and forwarded here after it: the erasure removed it.
    if (fwd !== undefined && this.part.erased.drops(ws, eventIdentKeys(e, this.ctx.hashEmail), of)) return;
    if (fwd?.group === true) {
      for (const g of ids.groups ?? []) if (this.part.homeOf(ws, g) === this.p) this.foldHomed(e, position, g, of);
      return;
    }
    const where = this.where(ws, ids.owner);
    const back = fwd !== undefined && fwd.control.body.kind === 'forward' && fwd.control.body.back === true;
    if ('away' in where && !back) {
      if (fwd === undefined || this.lookup(ws, ids.owner) !== undefined) {
        this.emit(where.away, { kind: 'forward', of }, e, position);
        return;
      }
      // Forwarded here yet unknown here: its routes here were erased, and it is used again after an erasure
      // that did not suppress it. Its home, which has met that erasure by now (the `forget` this partition
      // sent it came first), makes its new profile, where its later events go too.
      this.emit(where.away, { kind: 'forward', of, back: true }, e, position);
      return;
    }
    const local: LinkTarget[] = [];
    const cross: CrossLink[] = [];
    for (const l of this.crossAware(ws, ids)) {
      const w = this.where(ws, l.ident);
      if ('away' in w) cross.push({ ...l, to: w.away });
      else local.push(l);
    }
    let owner = 'local' in where ? where.local : (this.join(e, position, ids.owner, local) ?? this.create(ws, 'user', ids.owner, position, e.receivedAt).id);
    for (const l of local) owner = this.linkOne(e, position, ids.owner, owner, l);
    this.fold(e, position, this.doc(ws, owner), fwd === undefined ? undefined : this.streams(ws, ids.owner, of));
    // The groups it counts for: folded here when homed here, else forwarded once to each other home.
    const homes = new Set<number>();
    for (const g of ids.groups ?? []) {
      const home = this.part.homeOf(ws, g);
      if (home === this.p) this.foldHomed(e, position, g, of);
      else homes.add(home);
    }
    for (const home of [...homes].sort((x, y) => x - y)) this.emit(home, { kind: 'forward', of, group: true }, e, position);
    if (cross.length > 0) this.crossLinks(e, position, of, ids.owner, this.doc(ws, owner), cross);
  }

  /**
   * A group's tag decision: the log places it in the group's home partition
   * (log/partition.ts), which writes the group's profile.
   */
  override applyGroupTag(r: GroupTagRecord, position: number): void {
    this.at = position;
    const ident = identKey('group', r.groupId);
    if (this.part.homeOf(r.workspace, ident) === this.p) this.foldHomed(groupTagEvent(r), position, ident, position);
  }

  /**
   * Folds an event (appended at `of`) into a group homed here, unless the
   * group was recomputed from the stream up to `of` or later after an
   * erasure (erasure.ts, recomputeGroups): the event is in it already.
   */
  private foldHomed(e: PortraitEvent, position: number, group: string, of: number): void {
    const id = this.lookup(e.workspace, group);
    const upTo = id === undefined || awayTarget(id) !== undefined ? undefined : this.doc(e.workspace, id).refoldedTo;
    if (upTo !== undefined && of <= upTo) return;
    this.foldGroup(e, position, group);
  }

  /**
   * Which traits a forwarded event (at `of` in the log of its owner's home)
   * feeds: those whose backfill there ended before it. The home's backfill
   * counts the others (and sends them here as `traits` records); a home that
   * has not started the trait's backfill yet will end it past `of`.
   */
  private streams(ws: string, owner: string, of: number): (t: TraitRuntime) => boolean {
    const home = this.part.homeOf(ws, owner);
    return (t) => {
      const b = this.part.backfillOf(home, t.name);
      return b !== undefined && b.hash === t.hash && of > b.target;
    };
  }

  /**
   * The event's links; an alias's previous id neither of whose kinds is
   * known here and that is homed elsewhere is resolved by its home (`alias`).
   */
  private crossAware(ws: string, ids: EventIdentifiers): Array<LinkTarget & { alias?: true }> {
    const links: Array<LinkTarget & { alias?: true }> = this.linksOf(ws, ids);
    const prev = ids.aliasPrevious;
    if (prev === undefined) return links;
    const known = this.lookup(ws, `user:${prev}`) !== undefined || this.lookup(ws, `anon:${prev}`) !== undefined;
    if (!known && this.part.homeOf(ws, `user:${prev}`) !== this.p) links[links.length - 1] = { ident: `user:${prev}`, explicit: true, alias: true };
    return links;
  }

  /**
   * Links that leave the partition. When one goes to a lower partition, the
   * profile goes there (handover) and the other links are asked for on its
   * behalf from there; otherwise each is asked for from here.
   */
  private crossLinks(e: LinkSource, position: number, origin: number, anchor: string, od: ProfileDoc, cross: readonly CrossLink[]): void {
    const lowest = cross.reduce((m, c) => (c.to < m.to ? c : m));
    const meta = (l: CrossLink): LinkMeta => ({ a: anchor, b: l.ident, via: e.type, messageId: e.messageId, time: e.timestamp, explicit: l.explicit, origin });
    const home = lowest.to < this.p ? lowest.to : this.p;
    const identifiers = [...od.identifiers];
    if (home !== this.p) this.handOver(od, lowest.to, lowest.ident, meta(lowest), e, position);
    for (const l of cross) {
      if (home !== this.p && l === lowest) continue;
      this.emit(l.to, { kind: 'link', ident: l.ident, ...(l.alias && { alias: true as const }), anchor, from: home, identifiers, meta: meta(l) }, e, position);
    }
  }

  /** The profile leaves for partition `to`, to be merged into the profile of `target` there. */
  private handOver(d: ProfileDoc, to: number, target: string, meta: LinkMeta, src: { workspace: string; timestamp: number }, position: number): void {
    const ws = d.workspace;
    this.ctx.profiles.delete(ws, d.id);
    this.dirty.delete(d);
    this.refolds.delete(`${ws}\u0000${d.id}`);
    this.out.deletedProfiles.push({ workspace: ws, id: d.id });
    for (const i of d.identifiers) this.setIdentity(ws, i, awayTo(to));
    const blocks = this.ctx.blocked.naming(ws, d.identifiers);
    this.emit(to, { kind: 'handover', doc: d, target, meta, ...(blocks.length > 0 && { blocks }) }, src, position);
  }

  /**
   * Blocks the links a handover brought (those not blocked here yet are
   * written with the step), but none naming an identifier erased here: its
   * sender may not have met the erasure's `forget` yet, and an erasure
   * removes the blocks naming the person (as in the embedded mode). (So a
   * block made after an erasure that did not suppress the identifier, once it
   * came back, is not taken by a partition that met that erasure.)
   */
  private takeBlocks(ws: string, blocks: ReadonlyArray<readonly [string, string]> | undefined): void {
    for (const [a, b] of blocks ?? []) {
      if (this.part.erased.holds(ws, [a, b])) continue;
      if (this.ctx.blocked.add(ws, a, b)) (this.out.blockedLinks ??= []).push({ workspace: ws, a, b });
    }
  }

  /** Applies a control record (not a forward: those read as events) at its position. */
  applyControl(row: Positioned<ControlRecord>): void {
    const c = row.record;
    const position = row.position;
    this.at = position;
    if (!this.fresh(c)) return;
    const b = c.body;
    if (b.kind !== 'forward' && b.kind !== 'forget') {
      const origin = b.kind === 'traits' ? b.origin : (b.meta.origin ?? c.at);
      if (b.kind === 'link' && this.madeByErased(c.workspace, [b.anchor, ...b.identifiers], namedBy(b), origin)) return this.onLateLink(c, b, position, origin);
      const erasedAt = this.part.erased.dropsAt(c.workspace, namedBy(b), origin);
      if (erasedAt === undefined) return this.applyLive(c, b, position);
      // The erased person's link was answered after their erasure: the profile that answered it would have merged
      // into theirs (as in the embedded mode, which follows the log) and goes as of the same erasure.
      const personHashes = (k: string) => [this.part.erased.hashOf(c.workspace, k)];
      if (b.kind === 'give' && this.madeByErased(c.workspace, [b.anchor], [b.target], origin)) this.emit(b.to, { kind: 'forget', profileIds: [], identKeys: [b.target], erasedAt, personHashes: personHashes(b.anchor) }, c, position);
      if (b.kind === 'handover' && this.madeByErased(c.workspace, [b.meta.a], b.doc.identifiers, origin)) {
        // Handed down by its owner: it settles here, and this partition's own `forget` of it erases it.
        const d = this.install(this.sourceOf(c, b.meta), position, this.part.openDoc(b.doc), b.meta);
        this.emit(this.p, { kind: 'forget', profileIds: [b.doc.id], identKeys: [...d.identifiers], erasedAt, personHashes: personHashes(b.meta.a) }, c, position);
      }
      return;
    }
    this.applyLive(c, b, position);
  }

  /** Whether a record made at `origin` comes from a person erased after it (`asker`), not from the profile it names (`other`). */
  private madeByErased(ws: string, asker: readonly string[], other: readonly string[], origin: number): boolean {
    const mine = new Set(asker);
    return this.part.erased.names(ws, asker, origin) && !this.part.erased.names(ws, other.filter((k) => !mine.has(k)), origin);
  }

  /**
   * A link the person made before their erasure that reaches a partition
   * after it met the erasure: followed to the profile it names, whose owner
   * answers it as if the asker were higher (give), when the guards let the
   * two merge. The erased side drops the answer and tells that owner to
   * forget the profile. A link that would merge nothing is dropped.
   */
  private onLateLink(c: ControlRecord, b: Extract<ControlBody, { kind: 'link' }>, position: number, origin: number): void {
    const ws = c.workspace;
    const ident = this.aliasTarget(ws, b);
    const w = this.where(ws, ident);
    if ('away' in w) {
      this.emit(w.away, b, c, position);
      return;
    }
    const qd = 'local' in w ? this.doc(ws, w.local) : undefined;
    const merges = qd !== undefined && !this.isBlocked(ws, b.anchor, ident) && refuseJoin(b.identifiers, qd.identifiers, b.meta.explicit, this.ctx.guards) === undefined;
    if (merges) this.emit(b.from, { kind: 'give', anchor: b.anchor, target: ident, to: this.p, meta: { ...b.meta, b: ident } }, c, position);
    // Merges nothing: dropped, and counted on the erased identifier's row like any record from before the erasure.
    else this.part.erased.drops(ws, namedBy(b), origin);
  }

  /** An alias's previous id: the anonymous id of that value when only it is known here. */
  private aliasTarget(ws: string, b: Extract<ControlBody, { kind: 'link' }>): string {
    if (!b.alias) return b.ident;
    const value = b.ident.slice('user:'.length);
    return this.lookup(ws, b.ident) === undefined && this.lookup(ws, `anon:${value}`) !== undefined ? `anon:${value}` : b.ident;
  }

  private applyLive(c: ControlRecord, b: ControlBody, position: number): void {
    switch (b.kind) {
      case 'forward':
        return; // The event it named is gone (retention): nothing to fold.
      case 'link':
        return this.onLink(c, b, position);
      case 'give':
        return this.onGive(c, b, position);
      case 'grant':
        return this.onGrant(c, b, position);
      case 'handover':
        return this.onHandover(c, { ...b, doc: this.part.openDoc(b.doc) }, position);
      case 'forget':
        return; // Committed on its own by the engine (Engine.forget).
      case 'traits':
        return this.onTraits(c, b, position);
      default:
        b satisfies never;
    }
  }

  private sourceOf(c: ControlRecord, meta: LinkMeta): LinkSource {
    return { workspace: c.workspace, type: meta.via, messageId: meta.messageId, timestamp: meta.time };
  }

  private onLink(c: ControlRecord, b: Extract<ControlBody, { kind: 'link' }>, position: number): void {
    const ws = c.workspace;
    const ident = this.aliasTarget(ws, b);
    const src = this.sourceOf(c, b.meta);
    const meta = { ...b.meta, b: ident };
    const w = this.where(ws, ident);
    if ('away' in w) {
      // Resolved here (a route names it): the next partition need not resolve it again.
      const { alias: _resolved, ...rest } = b;
      this.emit(w.away, this.lookup(ws, ident) === undefined ? b : { ...rest, ident, meta }, c, position);
      return;
    }
    const anchor = this.where(ws, b.anchor);
    if ('local' in anchor) {
      // The asker's profile came here meanwhile: an ordinary link.
      this.linkOne(src, position, b.anchor, anchor.local, { ident, explicit: b.meta.explicit });
      return;
    }
    const q = 'local' in w ? w.local : undefined;
    if (this.isBlocked(ws, b.anchor, ident)) {
      this.conflict(src, position, 'unlinked', b.anchor, ident, '', q ?? '');
      return;
    }
    const qd = q === undefined ? undefined : this.doc(ws, q);
    const reason = refuseJoin(b.identifiers, qd?.identifiers ?? [ident], b.meta.explicit, this.ctx.guards);
    if (reason !== undefined) {
      this.conflict(src, position, reason, b.anchor, ident, '', q ?? '');
      return;
    }
    if (qd === undefined) {
      this.setIdentity(ws, ident, awayTo(b.from));
      this.emit(b.from, { kind: 'grant', ident, anchor: b.anchor, meta }, c, position);
    } else if (b.from < this.p) this.handOver(qd, b.from, b.anchor, meta, c, position);
    else this.emit(b.from, { kind: 'give', anchor: b.anchor, target: ident, to: this.p, meta }, c, position);
  }

  private onGive(c: ControlRecord, b: Extract<ControlBody, { kind: 'give' }>, position: number): void {
    const ws = c.workspace;
    const w = this.where(ws, b.anchor);
    if ('away' in w) this.emit(w.away, b, c, position);
    else if ('local' in w) {
      const d = this.doc(ws, w.local);
      if (b.to < this.p) this.handOver(d, b.to, b.target, b.meta, c, position);
      else this.emit(b.to, { kind: 'link', ident: b.target, anchor: b.anchor, from: this.p, identifiers: [...d.identifiers], meta: b.meta }, c, position);
    }
  }

  private onGrant(c: ControlRecord, b: Extract<ControlBody, { kind: 'grant' }>, position: number): void {
    const ws = c.workspace;
    const w = this.where(ws, b.anchor);
    if ('away' in w) {
      this.setIdentity(ws, b.ident, awayTo(w.away));
      this.emit(w.away, b, c, position);
    } else if ('local' in w) this.linkOne(this.sourceOf(c, b.meta), position, b.anchor, w.local, { ident: b.ident, explicit: b.meta.explicit });
  }

  private onHandover(c: ControlRecord, b: Extract<ControlBody, { kind: 'handover' }>, position: number): void {
    const ws = c.workspace;
    const src = this.sourceOf(c, b.meta);
    const w = this.where(ws, b.target);
    if ('away' in w) {
      for (const i of b.doc.identifiers) this.setIdentity(ws, i, awayTo(w.away));
      this.emit(w.away, b, c, position);
      return;
    }
    // The profile settles here: the links removed from it stay removed (the link that moved it included).
    this.takeBlocks(ws, b.blocks);
    if ('local' in w) {
      const qd = this.doc(ws, w.local);
      const reason = this.isBlocked(ws, b.meta.a, b.meta.b) ? 'unlinked' : refuseJoin(qd.identifiers, b.doc.identifiers, b.meta.explicit, this.ctx.guards);
      if (reason === undefined) {
        // The sender's trait versions are this partition's, or older ones, whose states the merge leaves out
        // (the engine switches to newer versions before it applies a record made under them).
        this.combine(src, position, qd, b.doc, b.meta.a, b.meta.b);
        return;
      }
      this.conflict(src, position, reason, b.meta.a, b.meta.b, b.doc.id, qd.id);
      this.install(src, position, b.doc, b.meta);
      return;
    }
    // The target has no profile anywhere: the document settles here and takes it.
    const d = this.install(src, position, b.doc, b.meta);
    this.linkOne(src, position, b.meta.a, d.id, { ident: b.target, explicit: b.meta.explicit });
  }

  /**
   * Backfilled trait states for the profile holding `ident` (a purpose-bound
   * trait's inputs folded as its consents allow at each input's time): merged into it
   * while the source partition's stored backfill of that version is the one
   * that folded them (same target; a rebuild keeps the targets, and the
   * handovers it replays lack exactly these states), passed on along the
   * route when the profile moved on, dropped when no profile holds it
   * (erased).
   */
  private onTraits(c: ControlRecord, b: Extract<ControlBody, { kind: 'traits' }>, position: number): void {
    const ws = c.workspace;
    const w = this.where(ws, b.ident);
    if ('away' in w) {
      if (this.lookup(ws, b.ident) !== undefined) this.emit(w.away, b, c, position);
      return;
    }
    if (!('local' in w)) return;
    const d = this.doc(ws, w.local);
    let changed = false;
    for (const st of b.states) {
      const t = this.ctx.rules.traits.find((x) => x.name === st.name && x.hash === st.hash);
      const source = this.part.backfillOf(b.source, st.name);
      if (t === undefined || source === undefined || source.hash !== st.hash || source.target !== st.target) continue;
      const allowed = st.gated?.filter((i) => consentAllows(d, t.purpose, i.time));
      if (allowed?.length === 0) continue;
      const s = allowed === undefined ? st.s : allowed.reduce((acc, i) => t.aggregator.add(acc, i), st.s);
      const cur = d.traits[st.name];
      d.traits[st.name] = { h: st.hash, s: cur !== undefined && cur.h === st.hash ? t.aggregator.merge(cur.s, s) : s };
      changed = true;
    }
    if (changed) this.touch(d);
  }

  /** A handed-over document that merges with nothing here becomes a profile of this partition, under an id made here. */
  private install(src: LinkSource, position: number, doc: ProfileDoc, meta: LinkMeta): ProfileDoc {
    const ws = doc.workspace;
    const d: ProfileDoc = { ...doc, id: profileIdFor('p', ws, doc.identifiers[0] ?? doc.id, position, src.timestamp) };
    this.ctx.profiles.set(ws, d.id, d);
    for (const i of d.identifiers) this.setIdentity(ws, i, d.id);
    this.touch(d);
    // Recorded as a merge into nothing but itself, so the id it had elsewhere resolves to this one.
    this.out.merges.push({ kind: 'merge', workspace: ws, into: d.id, from: doc.id, a: meta.a, b: meta.b, position, messageId: src.messageId, time: src.timestamp });
    return d;
  }
}
