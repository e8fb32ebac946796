/**
 * Erasure on partitioned workers, beside what src/privacy/erasure.ts does in
 * any engine: which groups this partition recomputes, the `forget` records
 * an erasure sends every other partition, and what a `forget` record removes
 * here. The engine commits the changes and evicts its caches.
 */
import { awayTarget, controlMessageId, type ControlRecord } from '../core/control.ts';
import type { ProfileDoc } from '../core/profile.ts';
import type { EmailHasher } from '../identity/index.ts';
import type { EventLog } from '../log/index.ts';
import { groupsFedBy, liveProfile, recomputeGroups, type GroupScope } from '../privacy/erasure.ts';
import { eventIdentKeys } from '../privacy/suppression.ts';
import type { Changeset, StateStore } from '../storage/index.ts';
import type { Definitions } from './definitions.ts';
import type { ErasedIdentifiers } from './erased.ts';

export interface PartitionErasureParts {
  partition: number;
  partitions: number;
  homeOf: (workspace: string, ident: string) => number;
  /** This partition's erased identifiers (shared with its steps). */
  erased: ErasedIdentifiers;
  log: EventLog;
  store: StateStore;
  definitions: Definitions;
  hashEmail: EmailHasher;
  /** This partition's routes of some identifiers (a profile id, or `>N`). */
  routes: (keys: ReadonlyArray<{ workspace: string; ident: string }>) => Promise<Map<string, string>>;
}

/** A `forget` record's body. */
export type ForgetBody = Extract<ControlRecord['body'], { kind: 'forget' }>;

/** What a `forget` removed here: the cache entries to evict, and the identifiers whose data keys go after the commit. */
export interface Forgotten {
  profileIds: string[];
  identKeys: string[];
  shred: string[];
}

export class PartitionErasure {
  constructor(private readonly o: PartitionErasureParts) {}

  /** The groups this partition recomputes after an erasure (those homed here), leaving out the events of people erased after them (the stream keeps them). */
  scope(workspace: string): GroupScope {
    return {
      here: (groupId) => this.o.homeOf(workspace, `group:${groupId}`) === this.o.partition,
      leaveOut: (e) => this.o.erased.names(workspace, eventIdentKeys(e.record, this.o.hashEmail), e.position),
    };
  }

  /**
   * The `forget` records made at `position` for every other partition
   * (`erasedAt`: the erasure's position, when not `position`; `personHashes`:
   * the erased person's, as the erase record names them).
   */
  records(workspace: string, timestamp: number, position: number, personHashes: readonly string[] = []): (profileIds: string[], identKeys: string[], groups: string[], erasedAt?: number) => ControlRecord[] {
    const from = this.o.partition;
    return (profileIds, identKeys, groups, erasedAt) =>
      Array.from({ length: this.o.partitions }, (_, q) => q)
        .filter((q) => q !== from)
        .map((to, index) => ({
          type: 'control',
          workspace,
          messageId: controlMessageId(from, position, index),
          from,
          at: position,
          index,
          to,
          body: { kind: 'forget', profileIds, identKeys, ...(groups.length > 0 && { groups }), ...(erasedAt !== undefined && { erasedAt }), ...(personHashes.length > 0 && { personHashes: [...personHashes] }), broadcast: true },
          timestamp,
          receivedAt: timestamp,
        }));
  }

  /**
   * A person erased where their profile lived: what this partition still
   * holds of them (routes, the profile's history from before it moved) goes
   * into `c`, at the `forget` record's position. So does a profile of this
   * partition that absorbed one of the erased profiles (a record from before
   * the erasure, a handover, that reached this partition before this
   * `forget`): its rows here go up to this position, its identifiers count
   * as erased at the erasure's position, and every other partition is told
   * to forget them too (their routes of them), less those a broadcast record
   * names (each of them has it). So does a profile of this
   * partition that holds one of the identifiers (one the person's link
   * joined before the erasure, answered after it). Such a profile goes with
   * the person: in the embedded mode it would have been part of theirs when
   * the erasure was requested, so when that erasure suppressed the person's
   * identifiers (the record's `personHashes`, or the identifiers it names),
   * its identifiers join the suppression list too, under that erasure.
   */
  async forget(r: ControlRecord & { body: ForgetBody }, position: number, c: Changeset): Promise<Forgotten> {
    const { profileIds, identKeys } = r.body;
    const ws = r.workspace;
    const erasedAt = r.body.erasedAt ?? r.at;
    const absorbed = await this.absorbedHere(ws, profileIds, identKeys);
    const absorbedKeys = [...new Set(absorbed.flatMap((d) => d.identifiers))].sort();
    // The identifiers to tell the others of: those found here, less those a broadcast record names (every other
    // partition has it). Whether a profile here holds some of the person's own identifiers may differ in a
    // rebuild of a log sealed before shredded emails left their reference (src/privacy/event-sealing.ts): there
    // the person's email no longer links, so a handover to it may settle here rather than pass on. What is
    // sent, and which groups are recomputed, must not depend on it.
    const told = new Set(r.body.broadcast === true ? identKeys : []);
    const found = absorbedKeys.filter((k) => !told.has(k));
    // Records from before the erasure that still reach this partition must not bring the person back.
    this.o.erased.add(ws, [...identKeys, ...absorbedKeys], erasedAt);
    c.erased = this.o.erased.take();
    // The groups homed here that the person's events counted for, recomputed without them.
    const absorbedGroups = await groupsFedBy(this.o.log, ws, found, erasedAt);
    const defs = this.o.definitions;
    const groupIds = new Set([...(r.body.groups ?? []), ...absorbedGroups]);
    const groups = await recomputeGroups(ws, groupIds, position, { log: this.o.log, store: this.o.store, rules: defs.rules(), covers: defs.covers.bind(defs), scope: this.scope(ws) });
    c.forget = [{ workspace: ws, profileIds, identKeys, upTo: erasedAt, ...(groups.length > 0 && { groups }) }];
    if (absorbed.length > 0) {
      const ids = absorbed.map((d) => d.id);
      c.forget.push({ workspace: ws, profileIds: ids, identKeys: absorbedKeys, upTo: position });
      const person = [...(r.body.personHashes ?? []), ...identKeys.map((k) => this.o.erased.hashOf(ws, k))];
      if (found.length > 0) c.control = this.records(ws, r.timestamp, position, person)([...new Set([...profileIds, ...ids])], absorbedKeys, absorbedGroups, erasedAt);
      const by = await this.o.store.privacy?.suppressedBy(ws, person);
      // The person's rows were written before their erasure was appended and are never deleted: a rebuild decides the same.
      if (by !== undefined) c.suppress = { workspace: ws, ...by, hashes: absorbedKeys.map((k) => this.o.erased.hashOf(ws, k)) };
    }
    return {
      profileIds: [...profileIds, ...absorbed.map((d) => d.id), ...groups.map((g) => g.id)],
      identKeys: [...identKeys, ...absorbedKeys, ...groups.map((g) => g.ident)],
      // Their events become unreadable too, as the erasing partition makes the person's.
      shred: absorbedKeys,
    };
  }

  /**
   * The profiles of this partition that absorbed one of `profileIds` (erased
   * elsewhere), following the merges from each, or that hold one of `identKeys`.
   */
  private async absorbedHere(workspace: string, profileIds: readonly string[], identKeys: readonly string[]): Promise<ProfileDoc[]> {
    const out = new Map<string, ProfileDoc>();
    const routes = await this.o.routes(identKeys.map((ident) => ({ workspace, ident })));
    const held = [...routes.values()].filter((r) => awayTarget(r) === undefined);
    for (const id of [...profileIds, ...held]) {
      const live = await liveProfile(this.o.store, workspace, id);
      if (live.doc === undefined || profileIds.includes(live.profileId)) continue;
      if ((await this.o.store.ownerOf?.(workspace, live.profileId)) === this.o.partition) out.set(live.profileId, live.doc);
    }
    return [...out.values()];
  }
}
