/**
 * Keeps memberships live inside the engine: after each step it evaluates,
 * for every touched profile, only the definitions that read a changed input;
 * it re-evaluates profiles whose membership time alone changes when their
 * scheduled instant comes; and it runs definition backfills. Every change is
 * added to the engine's changeset, so memberships, history, sizes, schedule
 * and outbox rows commit in the same transaction as the state and position.
 */
import type { Clock } from '../core/clock.ts';
import type { ProfileDoc } from '../core/profile.ts';
import type { Json } from '../core/event.ts';
import { consentGranted, type TraitRuntime } from '../profile/index.ts';
import type { Changeset, DefinitionRow, MembershipChange, SegmentChanges, SegmentDefinitionRow, SegmentStore } from '../storage/index.ts';
import { scoped } from '../storage/index.ts';
import type { SegmentTrait } from './evaluate.ts';
import { SegmentRegistry } from './registry.ts';
import { changedInput, memberKey } from './set.ts';

interface ProfileSegments {
  members: Map<string, number>;
  due: number | undefined;
}

export interface LiveSegmentsOptions {
  store: SegmentStore;
  clock: Clock;
  /** The computed traits in force: `version` changes whenever they do. */
  traits: () => { version: object; rows: () => readonly DefinitionRow[]; runtime: (name: string) => TraitRuntime | undefined };
  /** Write a `profile.updated` outbox row per touched profile per commit. */
  profileUpdated: boolean;
  /** Bound of the per-profile membership cache. */
  cacheProfiles: number;
  /** Profiles per backfill or due-time transaction. */
  chunk: number;
  /** Size history: one point per segment per interval of this length (ms), see sizePointAt. */
  sizeIntervalMs: number;
  /**
   * Partitioned workers: the partition this engine writes. Backfill progress
   * is then kept per partition (SegmentChanges.backfills) instead of in the
   * shared definition rows, and every commit names the definitions it
   * evaluated, so one made stale by a change on another node fails.
   */
  partition?: { partition: number; partitions: number };
}

export type CommitCause = 'events' | 'unlink' | 'trait-backfill';

export class LiveSegments {
  readonly registry = new SegmentRegistry();
  private cache = new Map<string, ProfileSegments>();
  private sizes = new Map<string, number>();
  private sizesLoaded = false;
  private nextDue = Infinity;
  private traitCache: { key: object; map: Map<string, SegmentTrait> } | undefined;
  /** Log position of the last changeset annotated (-Infinity: unknown, after start or a failed commit). */
  private annotatedUpTo = -Infinity;

  constructor(private readonly o: LiveSegmentsOptions) {}

  /** Loads definitions, sizes and the earliest due time (at engine start). */
  async start(): Promise<void> {
    this.registry.replace(await this.o.store.definitions());
    this.reset();
    await this.loadSizes();
    this.nextDue = (await this.o.store.nextDue()) ?? Infinity;
  }

  /** Forgets cached memberships (after a failed commit). */
  reset(): void {
    this.cache.clear();
    this.sizesLoaded = false;
    this.annotatedUpTo = -Infinity;
  }

  private async loadSizes(): Promise<void> {
    this.sizes.clear();
    for (const s of await this.o.store.sizes()) this.sizes.set(scoped(s.workspace, s.segment), s.size);
    this.sizesLoaded = true;
  }

  /** Whether anything needs evaluating at all. */
  active(): boolean {
    return this.registry.set().size > 0 || this.o.profileUpdated;
  }

  /** Segment traits with the fields time depends on. */
  traits(): Map<string, SegmentTrait> {
    const t = this.o.traits();
    if (this.traitCache?.key === t.version) return this.traitCache.map;
    const map = new Map<string, SegmentTrait>();
    for (const r of t.rows()) {
      const rt = t.runtime(r.name);
      const def = r.definition as { kind: string; window?: unknown; bucket?: 'hour' | 'day' };
      if (rt !== undefined) map.set(r.name, { runtime: rt, kind: def.kind, window: def.window, bucket: def.bucket });
    }
    this.traitCache = { key: t.version, map };
    return map;
  }

  /** The backfill waits until the engine has passed this position (after a rebuild, the whole replay). */
  private replayUntil(): number {
    let m = 0;
    for (const r of this.registry.backfilling()) m = Math.max(m, r.after);
    return m;
  }

  /**
   * The definitions that read, directly or through the segments they name, a
   * trait whose backfill is running, or a trait no longer defined (the
   * configuration dropped it): they are not evaluated, since they would read
   * partial or missing values, and keep their memberships. A trait backfill's
   * last commit sets them to backfill again over every profile; a dropped
   * trait defined again comes back through such a backfill.
   */
  frozen(): ReadonlySet<string> {
    const rows = this.o.traits().rows();
    const set = this.registry.set();
    const defined = new Set(rows.map((r) => r.name));
    const blocked = rows.filter((r) => r.status === 'backfilling').map((r) => `trait:${r.name}`);
    for (const name of set.traitsRead()) if (!defined.has(name)) blocked.push(`trait:${name}`);
    return blocked.length === 0 ? NONE : set.affected(blocked);
  }

  /** Backfilling definitions the pass can evaluate now (frozen ones wait, still backfilling). */
  private backfillRows(position: number, frozen: ReadonlySet<string>): SegmentDefinitionRow[] {
    if (position < this.replayUntil()) return [];
    return this.registry.backfilling().filter((r) => !frozen.has(memberKey(r.kind, r.name)));
  }

  /** Whether due re-evaluations or a backfill wait, at `now`, for an engine at `position`. */
  pending(now: number, position: number): boolean {
    if (this.registry.set().size === 0) return false;
    if (this.nextDue <= now) return true;
    return this.registry.backfilling().length > 0 && this.backfillRows(position, this.frozen()).length > 0;
  }

  /** The keys to evaluate: `only` (all when absent) without the frozen ones; undefined means all. */
  private unfrozen(only: ReadonlySet<string> | undefined, frozen: ReadonlySet<string>): ReadonlySet<string> | undefined {
    if (frozen.size === 0) return only;
    const out = new Set<string>();
    for (const k of only ?? this.registry.set().order.map((c) => c.key)) if (!frozen.has(k)) out.add(k);
    return out;
  }

  /** When the engine should next wake for due re-evaluations (Infinity: nothing scheduled). */
  wakeAt(): number {
    return this.registry.set().size === 0 ? Infinity : this.nextDue;
  }

  private async states(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, ProfileSegments>> {
    const out = new Map<string, ProfileSegments>();
    const missing: Array<{ workspace: string; id: string }> = [];
    for (const k of keys) {
      const sk = scoped(k.workspace, k.id);
      const s = this.cache.get(sk);
      if (s) out.set(sk, s);
      else missing.push(k);
    }
    if (missing.length > 0) {
      const members = await this.o.store.memberships(missing);
      const due = await this.o.store.schedule(missing);
      for (const k of missing) {
        const sk = scoped(k.workspace, k.id);
        const s: ProfileSegments = { members: members.get(sk) ?? new Map(), due: due.get(sk) };
        out.set(sk, s);
        this.remember(sk, s);
      }
    }
    return out;
  }

  private remember(sk: string, s: ProfileSegments): void {
    this.cache.delete(sk);
    this.cache.set(sk, s);
    if (this.cache.size > this.o.cacheProfiles) {
      // Drop the oldest tenth at once rather than one entry per insert.
      let n = Math.ceil(this.o.cacheProfiles / 10);
      for (const k of this.cache.keys()) {
        if (n-- <= 0) break;
        this.cache.delete(k);
      }
    }
  }

  private changes(c: Changeset): SegmentChanges {
    if (c.segments === undefined) {
      c.segments = { changes: [], schedule: [], sizes: [] };
      if (this.o.partition !== undefined) c.segments.evaluated = this.registry.list().map((r) => ({ kind: r.kind, name: r.name, hash: r.hash }));
    }
    return c.segments;
  }

  /** Records definition progress with a commit: in the shared rows, or (partitioned workers) as this partition's. */
  private progress(c: Changeset, rows: SegmentDefinitionRow[]): void {
    const seg = this.changes(c);
    const p = this.o.partition;
    if (p === undefined) {
      seg.definitions = rows;
      return;
    }
    seg.backfills = rows.map((r) => ({ kind: r.kind, name: r.name, hash: r.hash, partition: p.partition, cursor: r.cursor, after: r.after, done: r.status === 'live', partitions: p.partitions }));
  }

  /**
   * Applies one evaluation's result to a profile's cached state and the
   * changeset: entries, exits, history, outbox rows, schedule.
   */
  private record(c: Changeset, doc: { workspace: string; id: string; consents?: ProfileDoc['consents'] }, s: ProfileSegments, members: ReadonlySet<string>, next: number, baseReason: string, now: number, touchedSizes: Set<string>): void {
    const seg = this.changes(c);
    for (const k of [...s.members.keys()]) {
      if (members.has(k)) continue;
      s.members.delete(k);
      this.emit(c, doc, k, 'exited', baseReason, now, touchedSizes);
    }
    for (const k of members) {
      if (s.members.has(k)) continue;
      s.members.set(k, now);
      this.emit(c, doc, k, 'entered', baseReason, now, touchedSizes);
    }
    const due = Number.isFinite(next) ? next : undefined;
    if (due !== s.due) {
      s.due = due;
      seg.schedule.push({ workspace: doc.workspace, profileId: doc.id, dueAt: due ?? null });
      if (due !== undefined && due < this.nextDue) this.nextDue = due;
    }
  }

  /** One membership change: its history row, size, and outbox row (a method, not a closure per profile: see OtherDefinitions). */
  private emit(c: Changeset, doc: { workspace: string; id: string; consents?: ProfileDoc['consents'] }, segment: string, change: MembershipChange['change'], baseReason: string, now: number, touchedSizes: Set<string>): void {
    const seg = this.changes(c);
    const set = this.registry.set();
    // An exit from a purpose-bound definition because its consent is not (or no longer) granted says so.
    const purpose = change === 'exited' ? set.purposeOf(segment) : undefined;
    const manual = set.get(segment)?.condition === null;
    const reason = purpose !== undefined && 'kind' in doc && !consentGranted(doc as ProfileDoc, purpose) ? `consent_withdrawn:${purpose}` : manual && baseReason === 'event' ? 'manual' : baseReason;
    seg.changes.push({ workspace: doc.workspace, segment, profileId: doc.id, change, time: now, reason, position: c.position });
    const sk = scoped(doc.workspace, segment);
    this.sizes.set(sk, (this.sizes.get(sk) ?? 0) + (change === 'entered' ? 1 : -1));
    touchedSizes.add(sk);
    const time = new Date(now).toISOString();
    const tag = segment.startsWith('tag:');
    const payload: Json = tag
      ? { tag: segment.slice(4), source: manual ? 'manual' : 'rule', profileId: doc.id, workspace: doc.workspace, time, reason, position: c.position, ...consented(doc) }
      : { segment, profileId: doc.id, workspace: doc.workspace, time, reason, position: c.position, ...consented(doc) };
    const kind = tag ? (change === 'entered' ? 'tag.entered' : 'tag.exited') : change === 'entered' ? 'segment.entered' : 'segment.exited';
    (c.outbox ??= []).push({ workspace: doc.workspace, kind, profileId: doc.id, payload, position: c.position, createdAt: now });
  }

  /**
   * The instant a size reached at `now` is recorded at: the start of its
   * interval of the size history. Every commit in one interval writes the
   * same point, so the last one's size stays: the history grows by at most
   * one point per segment per interval, however often sizes change.
   */
  sizePointAt(now: number): number {
    const interval = this.o.sizeIntervalMs;
    return now - (((now % interval) + interval) % interval);
  }

  private finish(c: Changeset, touchedSizes: Set<string>, now: number): void {
    if (touchedSizes.size === 0) return;
    const seg = this.changes(c);
    const at = this.sizePointAt(now);
    for (const sk of touchedSizes) {
      const i = sk.indexOf('\u0000');
      seg.sizes.push({ workspace: sk.slice(0, i), segment: sk.slice(i + 1), at, size: this.sizes.get(sk) ?? 0 });
    }
  }

  /**
   * Adds the membership effects of an engine commit to its changeset: only
   * the definitions reading an input that changed are evaluated for each
   * touched profile (all of them after a merge, unmerge or trait backfill).
   */
  async annotate(c: Changeset, cause: CommitCause): Promise<void> {
    const now = this.o.clock.now();
    // Profiles created after the last annotated changeset were never evaluated.
    const createdAfter = this.annotatedUpTo;
    this.annotatedUpTo = c.position;
    if (this.o.profileUpdated && cause === 'events') {
      for (const d of c.profiles) {
        (c.outbox ??= []).push({ workspace: d.workspace, kind: 'profile.updated', profileId: d.id, payload: { profileId: d.id, workspace: d.workspace, eventCount: d.eventCount, position: c.position, ...consented(d) }, position: c.position, createdAt: now });
      }
    }
    const set = this.registry.set();
    if (set.size === 0) return;
    const frozen = this.frozen();
    // The last chunk of a trait backfill: what reads that trait is evaluated again over every profile.
    if (cause === 'trait-backfill') {
      // Partitioned workers: this partition's part of the trait backfill is done (`backfills`).
      const done = [...(c.definitions ?? []).filter((r) => r.status === 'live'), ...(c.backfills ?? []).filter((b) => b.done)].map((r) => `trait:${r.name}`);
      const again = done.length === 0 ? NONE : set.affected(done);
      const restart = new Set([...again].filter((k) => !frozen.has(k)));
      if (restart.size > 0) this.progress(c, this.registry.restart(restart, c.position, now));
    }
    // During a rebuild's replay, memberships wait for the backfill that follows it.
    if (this.registry.backfilling().length > 0 && c.position < this.replayUntil()) return;
    if (!this.sizesLoaded) await this.loadSizes();
    const keys = [...c.profiles.map((d) => ({ workspace: d.workspace, id: d.id })), ...c.deletedProfiles];
    if (keys.length === 0) return;
    const states = await this.states(keys);
    const touched = new Set<string>();
    const traits = this.traits();

    const changed = new Map<string, Set<string> | 'all'>();
    const all = cause !== 'events';
    for (const m of c.merges) {
      changed.set(scoped(m.workspace, m.into), 'all');
      changed.set(scoped(m.workspace, m.from), 'all');
    }
    for (const h of c.history) {
      const sk = scoped(h.workspace, h.profileId);
      let s = changed.get(sk);
      if (s === 'all') continue;
      if (s === undefined) changed.set(sk, (s = new Set(['activity'])));
      for (const k in h.changes) s.add(changedInput(k));
    }
    const activityOnly = set.affected(['activity']);

    for (const d of c.deletedProfiles) {
      const sk = scoped(d.workspace, d.id);
      const s = states.get(sk)!;
      this.record(c, d, s, new Set(), Infinity, 'merge', now, touched);
      this.cache.delete(sk);
    }
    for (const doc of c.profiles) {
      const sk = scoped(doc.workspace, doc.id);
      const s = states.get(sk)!;
      const ch = all ? 'all' : changed.get(sk);
      // A profile with no recorded change was still touched by an event: its activity changed.
      // A profile whose time-driven re-evaluation is due gets a full one now, and so does a new
      // profile: a condition may hold on inputs it does not have (not exists score.churn).
      const overdue = s.due !== undefined && s.due <= now;
      // A profile created since the last annotated changeset was never evaluated: every definition is (a missing count reads 0).
      const only = this.unfrozen(ch === 'all' || overdue || doc.createdAt > createdAfter ? undefined : ch === undefined ? activityOnly : set.affected(ch), frozen);
      if (only !== undefined && only.size === 0) continue;
      const r = set.evaluate(doc, now, traits, s.members, only);
      // A partial evaluation knows only the next change of what it evaluated: keep the pending one.
      const next = only === undefined ? r.next : Math.min(r.next, s.due ?? Infinity);
      this.record(c, doc, s, r.members, next, cause === 'events' ? 'event' : cause, now, touched);
    }
    this.finish(c, touched, now);
  }

  /**
   * One chunk of time-driven re-evaluations or backfill; returns the
   * changeset to commit at the engine's position, or undefined when there is
   * nothing to do. `cached` returns a profile from the engine's cache.
   */
  async work(partition: number, position: number, cached: (workspace: string, id: string) => ProfileDoc | undefined, load: (keys: Array<{ workspace: string; id: string }>) => Promise<Map<string, ProfileDoc>>): Promise<Changeset | undefined> {
    const now = this.o.clock.now();
    if (!this.sizesLoaded) await this.loadSizes();
    const c = emptyChanges(partition, position);
    const touched = new Set<string>();
    const set = this.registry.set();
    const traits = this.traits();
    const frozen = this.frozen();
    const only = this.unfrozen(undefined, frozen);
    if (this.nextDue <= now) {
      const due = await this.o.store.due(now, this.o.chunk);
      const missing = due.filter((d) => cached(d.workspace, d.id) === undefined);
      const loaded = missing.length > 0 ? await load(missing) : new Map<string, ProfileDoc>();
      const states = await this.states(due);
      for (const d of due) {
        const sk = scoped(d.workspace, d.id);
        const doc = cached(d.workspace, d.id) ?? loaded.get(sk);
        const s = states.get(sk)!;
        if (doc === undefined) {
          this.record(c, d, s, new Set(), Infinity, 'removed', now, touched);
          continue;
        }
        const r = set.evaluate(doc, now, traits, s.members, only);
        // Force a schedule write: the stored due time has passed even when the next one equals the cached value.
        s.due = -1;
        this.record(c, doc, s, r.members, r.next, 'time', now, touched);
      }
      this.finish(c, touched, now);
      // Unknown until the commit lands (rows may have moved since nextDue was noted): committed() reads it back.
      this.nextDue = -Infinity;
      return c;
    }
    const rows = this.backfillRows(position, frozen);
    if (rows.length === 0) return undefined;
    const cursor = Math.min(...rows.map((r) => r.cursor));
    const page = await this.o.store.profilesAfter(cursor, this.o.chunk);
    const states = await this.states(page.map((p) => p.doc));
    for (const { doc: stored } of page) {
      const doc = cached(stored.workspace, stored.id) ?? stored;
      const s = states.get(scoped(doc.workspace, doc.id))!;
      const r = set.evaluate(doc, now, traits, s.members, only);
      // A partial evaluation knows only the next change of what it evaluated: keep the pending one.
      this.record(c, doc, s, r.members, only === undefined ? r.next : Math.min(r.next, s.due ?? Infinity), 'definition', now, touched);
    }
    let done = page.length < this.o.chunk;
    if (done) {
      // Memberships of profiles that no longer exist (merged away during a rebuild's replay) end here.
      const orphans = await this.o.store.orphanMemberships(this.o.chunk);
      const states = await this.states(orphans);
      for (const o of orphans) {
        this.record(c, o, states.get(scoped(o.workspace, o.id))!, new Set(), Infinity, 'removed', now, touched);
        this.cache.delete(scoped(o.workspace, o.id));
      }
      if (orphans.length === this.o.chunk) done = false;
    }
    this.finish(c, touched, now);
    this.progress(c, this.registry.advance(page.length > 0 ? page[page.length - 1]!.cursor : cursor, done, now, frozen));
    return c;
  }

  /** After a commit: refresh the earliest due time when due rows were processed. */
  async committed(): Promise<void> {
    if (this.nextDue === -Infinity) this.nextDue = (await this.o.store.nextDue()) ?? Infinity;
  }
}

const NONE: ReadonlySet<string> = new Set();

function emptyChanges(partition: number, position: number): Changeset {
  return { partition, position, profiles: [], deletedProfiles: [], identities: [], links: [], merges: [], identityConflicts: [], attributeConflicts: [], history: [] };
}

/**
 * The purposes a profile has granted, as outbox rows carry them (only when
 * there are any) so that purpose-bound destinations can be filtered by the
 * consent in force when the notification was written. Not sent to receivers.
 */
function consented(doc: { consents?: ProfileDoc['consents'] }): { consented?: string[] } {
  if (doc.consents === undefined) return {};
  const granted = Object.keys(doc.consents).filter((p) => doc.consents![p]!.granted).sort();
  return granted.length > 0 ? { consented: granted } : {};
}
