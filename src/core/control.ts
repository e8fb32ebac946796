/**
 * Control records: how partition engines of a scale-out deployment talk to
 * each other. A partition only ever writes its own state; when an identity
 * link reaches a profile owned by another partition, it appends a control
 * record to that partition's subject of the log, so every partition's state
 * stays a function of its own log (see README, "Partitioned workers").
 */
import type { ProfileDoc } from './profile.ts';

/** What a merge records: the link that caused it (as the embedded mode records it). */
export interface LinkMeta {
  /** The identifier of the profile that asked (the event's owner). */
  a: string;
  /** The identifier it links to. */
  b: string;
  /** The message type that made the link. */
  via: string;
  messageId: string;
  /** Event time of the message. */
  time: number;
  /** An alias: may join two user ids. */
  explicit: boolean;
  /**
   * The log position of the event that made the link (absent in records
   * made before it was kept: their own position stands for it). A record
   * naming an identifier erased after that position is dropped.
   */
  origin?: number;
}

/**
 * - `forward`: fold the event at log position `of` here (its owner's profile
 *   lives here); `group`: fold it only into the groups it counts for that
 *   are homed here; `back`: sent back to the home of its owner, whose routes elsewhere were erased:
 *   fold it here, whatever the routes say.
 * - `link`: join the profile of `ident` (an alias's previous id when `alias`)
 *   with the asker's profile (`anchor`, owned by partition `from`, holding
 *   `identifiers`, for the guards).
 * - `give`: move the profile of `anchor` to partition `to`, into the profile of `target`.
 * - `grant`: `ident` had no profile: it now belongs to the profile of `anchor`.
 * - `handover`: the whole profile `doc` (its owner let it go): merge it into the profile of `target`.
 *   `blocks`: the links unmerges removed that name one of its identifiers, as its sender held them
 *   (`[a, b]`, a < b; absent: none, or a record made before they travelled): the receiver blocks them too.
 * - `forget`: a person was erased where their profile lived: delete what is left of them here, and
 *   recompute without them the groups homed here among `groups` (those their events counted for).
 *   `erasedAt`: the erasure's log position, when another partition sends it on (it found a profile
 *   that had absorbed an erased one); else `at`. `personHashes`: keyed hashes of the erased person's
 *   identifiers whose link took the profile it names along (when that erasure suppressed them, the
 *   profile's identifiers join the suppression list, as the embedded mode's request would have listed them).
 *   `broadcast`: its sender sent it to every other partition (an erasure's own, or one sent on), so every
 *   partition forgets the identifiers it names; one sent to a single partition (a profile that settled on
 *   the erased side, a late `give`) lacks it.
 * - `traits`: a trait backfill of partition `source` folded these partial
 *   states from its own events whose owner is `ident` (before `target`, the
 *   backfill's end there): merge them into the profile holding `ident`.
 *   `origin`: the lowest position of those events.
 */
export type ControlBody =
  | { kind: 'forward'; of: number; group?: true; back?: true }
  | { kind: 'link'; ident: string; alias?: true; anchor: string; from: number; identifiers: string[]; meta: LinkMeta }
  | { kind: 'give'; anchor: string; target: string; to: number; meta: LinkMeta }
  | { kind: 'grant'; ident: string; anchor: string; meta: LinkMeta }
  | { kind: 'handover'; doc: ProfileDoc; target: string; meta: LinkMeta; blocks?: Array<[string, string]> }
  | { kind: 'forget'; profileIds: string[]; identKeys: string[]; groups?: string[]; erasedAt?: number; personHashes?: string[]; broadcast?: true }
  | { kind: 'traits'; ident: string; source: number; origin: number; states: BackfilledState[] };

/** A trait state a backfill folded on one partition, for a profile owned by another. */
export interface BackfilledState {
  name: string;
  /** The definition version. */
  hash: string;
  /** The source partition's backfill target: the state counts only while that backfill is this deployment's (not in a rebuild). */
  target: number;
  s: unknown;
  /**
   * A purpose-bound trait's inputs, one per event, in log order (`s` is then
   * the empty state): the owner folds those its consents allow at each
   * input's time, the gate the embedded mode's backfill applies.
   */
  gated?: GatedInput[];
}

/** One event's input to a trait (the shape of traits/aggregator.ts's AggregatorInput). */
export interface GatedInput {
  time: number;
  id: string;
  value: unknown;
  key?: string;
  weight: number;
}

/**
 * A control record, identified by where it was made: the source partition,
 * the source log position whose processing made it, and its index among the
 * records made there. Receivers apply each once, in that order per source.
 */
export interface ControlRecord {
  type: 'control';
  workspace: string;
  /** `ctl-<from>-<at>-<index>`: deterministic, so a second publish is a duplicate. */
  messageId: string;
  from: number;
  at: number;
  index: number;
  /** The partition it is for (its subject). */
  to: number;
  body: ControlBody;
  /**
   * The fingerprint of the trait definition versions the sender folded under
   * when it made the record (traitVersions; absent in records made before it
   * was kept). A receiver whose versions differ and are not the stored ones
   * switches to the stored ones before it applies the record.
   */
  defs?: string;
  timestamp: number;
  receivedAt: number;
}

export function controlMessageId(from: number, at: number, index: number): string {
  return `ctl-${from}-${at}-${index}`;
}

/** Whether (at, index) comes after (at2, index2). */
export function controlAfter(at: number, index: number, at2: number, index2: number): boolean {
  return at > at2 || (at === at2 && index > index2);
}

/**
 * An identity route naming another partition: `>N` (owned by partition N).
 * Profile ids start with a letter, so the two never mix.
 */
export function awayTo(partition: number): string {
  return `>${partition}`;
}

/** The partition a route names, or undefined when it names a profile. */
export function awayTarget(route: string): number | undefined {
  return route.charCodeAt(0) === 62 /* > */ ? Number(route.slice(1)) : undefined;
}
