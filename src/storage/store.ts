/**
 * What the engine, the API and the CLI need from the state store. Profiles,
 * identities, history and the engine's log position live here; the event log
 * lives apart (src/log). The engine is the only writer of profile state and
 * writes it with its log position in one transaction (`commit`).
 */
import type { ControlRecord } from '../core/control.ts';
import type { Json } from '../core/event.ts';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../core/identity.ts';
import type { ProfileDoc } from '../core/profile.ts';
import type { DataKeyTable, RetentionTable } from './privacy-tables.ts';

/** One recorded change of an attribute or a computed trait value. */
export interface HistoryEntry {
  workspace: string;
  profileId: string;
  position: number;
  messageId: string;
  time: number;
  /** `attr.<name>`, `trait.<name>` or `trait.<name>.<key>` (one key of an object value), `consent.<purpose>`, `score.<name>`, `tag.<name>` → [old, new] */
  changes: Record<string, [Json | undefined, Json | undefined]>;
}

/** An attribute value that was not applied, and why. */
export interface AttributeConflict {
  workspace: string;
  profileId: string;
  attribute: string;
  reason: 'stale' | 'set_once' | 'type' | 'consent' | 'score' | 'tag';
  kept: Json;
  rejected: Json;
  position: number;
  messageId: string;
}

export interface DefinitionRow {
  name: string;
  hash: string;
  version: number;
  definition: Json;
  status: 'backfilling' | 'live';
  /** Backfill covers positions (cursor, target]; streaming covers positions > target. */
  backfillCursor: number;
  backfillTarget: number;
  updatedAt: number;
  /** Where the definition was made: the configuration file (which owns it), or the API / library. */
  source: 'config' | 'api';
}

/**
 * With partitioned workers, one partition's progress on a trait definition's
 * backfill: each partition backfills (0, target] of its own log, target being
 * its committed position when it first ran that version.
 */
export interface PartitionBackfill {
  name: string;
  hash: string;
  partition: number;
  cursor: number;
  target: number;
  done: boolean;
  /** How many partitions share the backfill: the last one done sets the definition live. */
  partitions: number;
  /**
   * The cursor the writer expects stored (its chunk began there). A backfill
   * chunk does not move the partition position, so this fences it: when
   * another worker moved the cursor meanwhile, the commit fails with
   * PORTRAIT_STALE_WRITER instead of counting the chunk twice.
   */
  from?: number;
}

/** A partition's backfill progress as stored (what the writers' bookkeeping fields leave). */
export type StoredBackfill = Omit<PartitionBackfill, 'partitions' | 'from'>;

/** Everything one engine step writes, atomically, with the new log position. */
export interface Changeset {
  partition: number;
  position: number;
  /**
   * The partition position this writer last saw. When set, the commit fails with
   * PORTRAIT_STALE_WRITER (and writes nothing) unless the stored position equals
   * it, so two workers can never both advance one partition.
   */
  expectPosition?: number;
  /**
   * Partitioned workers: the fencing token of the lease this writer holds on
   * the partition. When set, the commit fails with PORTRAIT_STALE_WRITER unless
   * the lease still carries it, which also fences commits that do not move the
   * position (segment backfills, time-driven re-evaluations).
   */
  expectLease?: number;
  profiles: ProfileDoc[];
  deletedProfiles: Array<{ workspace: string; id: string }>;
  /**
   * Identity writes. With `routes` (partitioned workers), `profileId` may be
   * a forwarding target (`>N`: owned by partition N, see core/control.ts) and
   * `position` is the log position the write comes from.
   */
  identities: Array<{ workspace: string; ident: string; profileId: string; position?: number }>;
  /**
   * Partitioned workers: `identities` are this partition's routes
   * (identity_routes); those naming a profile also go to the shared
   * `identities` table, where the write of the highest position wins.
   */
  routes?: true;
  /** Partitioned workers: the last control record applied, per source partition. */
  controlApplied?: Array<{ source: number; at: number; index: number }>;
  /** Partitioned workers: control records for other partitions (transactional outbox, published after the commit). */
  control?: ControlRecord[];
  /**
   * Partitioned workers: an erased person's profiles and identifiers, deleted
   * from state (another partition's erasure, made at log position `upTo`),
   * and the groups homed here that they fed, recomputed without them.
   */
  forget?: Array<{ workspace: string; profileIds: string[]; identKeys: string[]; upTo: number; groups?: ErasurePlan['groups'] }>;
  /**
   * Partitioned workers: rows of this partition's erased identifiers (keyed
   * hashes, never plaintext) written or changed by the commit: the log
   * position of the erasure, and how many records naming them from before
   * it this partition dropped (see ErasedIdentifier).
   */
  erased?: ErasedIdentifier[];
  /**
   * Partitioned workers: identifiers (keyed hashes) that join the
   * suppression list of an erasure (its id and time), written with the
   * commit: those of a profile that went with the erased person (see
   * PartitionErasure.forget).
   */
  suppress?: { workspace: string; erasureId: string; createdAt: number; hashes: string[] };
  deletedIdentities?: Array<{ workspace: string; ident: string }>;
  links: IdentityLink[];
  deletedLinks?: Array<{ workspace: string; a: string; b: string }>;
  blockedLinks?: Array<{ workspace: string; a: string; b: string }>;
  merges: MergeRecord[];
  identityConflicts: IdentityConflict[];
  attributeConflicts: AttributeConflict[];
  history: HistoryEntry[];
  definitions?: DefinitionRow[];
  /** Partitioned workers: trait backfill progress of this partition (instead of `definitions`). */
  backfills?: PartitionBackfill[];
  /** Notifications written with the state change (transactional outbox). */
  outbox?: OutboxEntry[];
  /** Segment and tag membership changes, their history, sizes and the re-evaluation schedule. */
  segments?: SegmentChanges;
}

/** One notification row of the transactional outbox. */
export interface OutboxEntry {
  workspace: string;
  kind: 'segment.entered' | 'segment.exited' | 'tag.entered' | 'tag.exited' | 'profile.updated';
  profileId: string;
  payload: Json;
  /** Log position of the commit that produced it. */
  position: number;
  createdAt: number;
}

/** One entry to or exit from a segment (or rule-driven tag, keyed `tag:<name>`). */
export interface MembershipChange {
  workspace: string;
  segment: string;
  profileId: string;
  change: 'entered' | 'exited';
  time: number;
  reason: string;
  position: number;
}

export interface SegmentChanges {
  changes: MembershipChange[];
  /** Next time-driven re-evaluation per profile; null removes it. */
  schedule: Array<{ workspace: string; profileId: string; dueAt: number | null }>;
  /** Segment sizes after this commit (only those that changed). */
  sizes: Array<{ workspace: string; segment: string; at: number; size: number }>;
  /** Definition progress to save with the commit. */
  definitions?: SegmentDefinitionRow[];
  /** Partitioned workers: this partition's backfill progress (instead of `definitions`). */
  backfills?: SegmentBackfill[];
  /**
   * Partitioned workers: the definitions (kind, name, hash) this writer
   * evaluated. The commit fails with PORTRAIT_STALE_WRITER when the stored
   * ones differ (another node changed them meanwhile), so no membership of a
   * removed or replaced definition is written after the change.
   */
  evaluated?: Array<{ kind: SegmentDefinitionRow['kind']; name: string; hash: string }>;
}

/**
 * With partitioned workers, one partition's progress on a segment or tag
 * definition's backfill over the profiles that partition writes. The
 * definition goes live when every partition is done.
 */
export interface SegmentBackfill {
  kind: SegmentDefinitionRow['kind'];
  name: string;
  hash: string;
  partition: number;
  /** Profiles (by storage order) of the partition already evaluated. */
  cursor: number;
  /** Incremental evaluation in this partition starts once it has passed this position. */
  after: number;
  done: boolean;
  /** How many partitions share the backfill: the last one done sets the definition live (not stored). */
  partitions: number;
}

export interface SegmentDefinitionRow {
  kind: 'segment' | 'tag';
  name: string;
  /** { name, condition (JSON form) | null, description? } */
  definition: Json;
  hash: string;
  version: number;
  status: 'backfilling' | 'live';
  /** Profiles (by storage order) already evaluated by the backfill. */
  cursor: number;
  /** Incremental evaluation starts once the engine has passed this log position. */
  after: number;
  updatedAt: number;
  /** Where it was defined: the config file (removed when the file drops it) or the API (kept across restarts). */
  source: 'config' | 'api';
}

/** What segments need from the store, beside the state store's own methods. */
export interface SegmentStore {
  definitions(): Promise<SegmentDefinitionRow[]>;
  saveDefinitions(rows: SegmentDefinitionRow[]): Promise<void>;
  deleteDefinition(kind: SegmentDefinitionRow['kind'], name: string): Promise<void>;
  /** Current memberships of profiles: scoped(workspace, id) → segment key → since. */
  memberships(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, Map<string, number>>>;
  /** Stored next re-evaluation times: scoped(workspace, id) → due. */
  schedule(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, number>>;
  /** Profiles due at or before `now`, earliest first. */
  due(now: number, limit: number): Promise<Array<{ workspace: string; id: string; dueAt: number }>>;
  nextDue(): Promise<number | undefined>;
  /** Profiles in storage order after a cursor (for backfills). */
  profilesAfter(cursor: number, limit: number): Promise<Array<{ cursor: number; doc: ProfileDoc }>>;
  lastProfileCursor(): Promise<number>;
  /** Memberships whose profile no longer exists. */
  orphanMemberships(limit: number): Promise<Array<{ workspace: string; id: string }>>;
  sizes(): Promise<Array<{ workspace: string; segment: string; size: number }>>;
  members(workspace: string, segment: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>>;
  sizeHistory(workspace: string, segment: string, opts: { from?: number; to?: number; limit: number }): Promise<Array<{ at: number; size: number }>>;
  membershipHistory(workspace: string, profileId: string, limit: number): Promise<MembershipChange[]>;
  outbox(opts: { after?: number; limit: number }): Promise<Array<OutboxEntry & { seq: number }>>;
  /** Manual tags. */
  setTag(workspace: string, tag: string, profileId: string, since: number): Promise<boolean>;
  unsetTag(workspace: string, tag: string, profileId: string): Promise<boolean>;
  /** Manual tags written to the store directly, before decisions went through the event log (moved to the log at open). */
  storedManualTags(): Promise<Array<{ workspace: string; tag: string; profileId: string; since: number }>>;
  profileTags(workspace: string, profileId: string): Promise<Array<{ tag: string; since: number; source: 'manual' | 'rule' }>>;
  tagCounts(workspace: string): Promise<Array<{ tag: string; count: number }>>;
  tagMembers(workspace: string, tag: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>>;
}

/** One erasure in the ledger: what was removed, when, at whose request. Holds no personal data. */
export interface ErasureRow {
  id: string;
  workspace: string;
  status: 'pending' | 'completed';
  requestedAt: number;
  completedAt: number | null;
  /** The API key that asked (null: the CLI or the library). */
  keyId: string | null;
  /** Rows removed, per kind of data (empty while pending). */
  counts: Record<string, number>;
}

/** What the engine removes for one erasure, in one transaction with its log position. */
export interface ErasurePlan {
  workspace: string;
  erasureId: string;
  /** The profile named by the erase record (profiles merged into it are found by the store). */
  profileId: string;
  /** The profile's identifier keys at the time of the erasure. */
  identKeys: string[];
  /** Events deleted from the log beforehand. */
  events: number;
  /** Other people's events the person's ids were removed from. */
  eventsRedacted: number;
  /**
   * Group profiles the person's group calls fed, recomputed from the calls
   * left: the new document and history (null: no call is left, the group goes).
   */
  groups: Array<{ id: string; ident: string; doc: ProfileDoc | null; history: HistoryEntry[] }>;
  /** Whether a quarantined raw message names the person. */
  quarantineMatches: (raw: string) => boolean;
  partition: number;
  position: number;
  completedAt: number;
  /** The instant the segments that lose the person record their new sizes at (a point of the size history, see LiveSegments.sizePointAt). */
  sizesAt: number;
  /**
   * Partitioned workers: the `forget` control records for the other
   * partitions, given the profiles and identifiers removed (written to the
   * outbox in the erasure's transaction).
   */
  forget?: (profileIds: string[], identKeys: string[]) => ControlRecord[];
  /** Partitioned workers: the erasing partition's rows of the identifiers erased (see ErasedIdentifier). */
  erased?: ErasedIdentifier[];
  /** Partitioned workers: fenced as the engine's other commits are (Changeset.expectPosition, Changeset.expectLease). */
  expectPosition?: number;
  expectLease?: number;
}

/**
 * Partitioned workers: an identifier erased at a log position, as a keyed
 * hash of its key. A record from before that position that reaches the
 * partition afterwards (an event forwarded, a link, a handover) and names
 * it is dropped, in a rebuild alike; `dropped` counts them.
 */
export interface ErasedIdentifier {
  workspace: string;
  hash: string;
  position: number;
  dropped: number;
}

/** Erasure ledger, suppression list, and the engine's erasure transaction. */
export interface PrivacyStore {
  /** Every suppressed identifier hash. */
  suppressions(): Promise<Array<{ workspace: string; hash: string }>>;
  /** How many identifier hashes are suppressed (rows are only ever added: a changed count means new ones). */
  suppressionCount(): Promise<number>;
  /** The erasure (id and time) that suppressed one of these hashes, if any did. */
  suppressedBy(workspace: string, hashes: readonly string[]): Promise<{ erasureId: string; createdAt: number } | undefined>;
  /** Records a pending erasure and suppresses its identifier hashes, in one transaction. */
  requestErasure(row: ErasureRow, hashes: readonly string[]): Promise<void>;
  erasure(workspace: string, id: string): Promise<ErasureRow | undefined>;
  /** Ledger entries of a workspace, newest first, paged by `before` (an id from the previous page). */
  erasures(workspace: string, opts: { limit: number; before?: string }): Promise<ErasureRow[]>;
  /**
   * Deletes everything held on the profile (and the profiles merged into it),
   * moves the partition's position and completes the ledger entry, atomically.
   * Returns the profile ids removed and the counts per kind.
   */
  erase(plan: ErasurePlan): Promise<{ profileIds: string[]; counts: Record<string, number> }>;
  /** Checkpoints the WAL and rewrites the files without free pages (embedded only). */
  compact(): Promise<void>;
}

export interface QuarantineRow {
  id: number;
  workspace: string;
  receivedAt: number;
  raw: string;
  reason: Json;
  status: 'open' | 'resubmitted';
}

/**
 * A message to quarantine. With a `digest` (of a message that carries its
 * own messageId: the same message sent again), a row of the workspace with
 * that digest, whatever its status, is the answer instead of a new row.
 */
export type NewQuarantineRow = Omit<QuarantineRow, 'id' | 'status'> & { digest?: string };

export interface ApiKeyRow {
  id: string;
  workspace: string;
  secretHash: Buffer;
  scopes: string[];
  label: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface Page<T> {
  items: T[];
  total: number;
}

/**
 * A condition on one attribute that a store may use to skip profiles early
 * while scanning. A store may ignore any of them (callers re-check every
 * condition on the profiles they get), but must never skip a profile that
 * satisfies them. Strings compare by code point.
 */
export interface AttributePrefilter {
  attribute: string;
  op: 'eq' | 'in' | 'gt' | 'gte' | 'lt' | 'lte' | 'exists';
  /** eq, gt…lte: a string or a number; in: a list of them; exists: unused. */
  value?: Json;
}

/** Which page of profiles `StateStore.profilePage` reads. */
export interface ProfilePageRequest {
  /** Only members of this segment. */
  segment?: string;
  /** Start after this profile id (before it when `desc`). */
  after?: string;
  /** Descending id order. */
  desc: boolean;
  /** Profiles to skip after `after`. */
  offset: number;
  limit: number;
}

export interface StateStore {
  position(partition: number): Promise<number>;
  identities(keys: ReadonlyArray<{ workspace: string; ident: string }>): Promise<Map<string, string>>;
  profiles(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, ProfileDoc>>;
  linksAmong(workspace: string, idents: readonly string[]): Promise<IdentityLink[]>;
  /** Links removed by an unmerge, which no later event may re-create. */
  blockedLinks(): Promise<Array<{ workspace: string; a: string; b: string }>>;
  commit(changes: Changeset): Promise<void>;
  /**
   * Commits like `commit`, but has read everything it needs of `changes` by
   * the time it returns, so the caller may change the objects `changes`
   * holds (profile documents) at once; `landed` settles as `commit` would.
   * The engine then folds the next events while this commit is written.
   * Stores that encode a changeset while they wait leave it out.
   */
  commitDetached?(changes: Changeset): { landed: Promise<void> };
  /** Partitioned workers: the partition that owns a profile now (absent on stores without partitions). */
  ownerOf?(workspace: string, profileId: string): Promise<number | undefined>;

  history(workspace: string, profileId: string, opts?: { limit?: number; before?: number }): Promise<HistoryEntry[]>;
  merges(workspace: string, profileId: string): Promise<MergeRecord[]>;
  identityConflicts(workspace: string): Promise<IdentityConflict[]>;
  attributeConflicts(workspace: string, profileId: string): Promise<AttributeConflict[]>;
  /**
   * How many profiles there are (in a workspace; with `segment`, those of its
   * profiles that are members of the segment), counted without reading a document.
   */
  profileCount(workspace?: string, segment?: string): Promise<number>;
  /**
   * Calls `visit` with every profile of a workspace (with `segment`: every
   * member of that segment) that may satisfy the prefilters, from one
   * consistent snapshot, in no particular order; resolves to the number
   * visited. `visit` must not call the store.
   */
  scanProfiles(workspace: string, prefilters: readonly AttributePrefilter[], visit: (doc: ProfileDoc) => void, segment?: string): Promise<number>;
  /**
   * One page of a workspace's profiles (with `segment`: of that segment's
   * members) in profile id order, by code point, and how many there are in
   * all, from one snapshot: reads only the page's documents.
   */
  profilePage(workspace: string, page: ProfilePageRequest): Promise<{ docs: ProfileDoc[]; total: number }>;

  definitions(): Promise<DefinitionRow[]>;
  /** Segment and tag storage (absent on stores that do not keep segments yet). */
  readonly segments?: SegmentStore;
  /** Erasure and suppression storage (absent on stores that cannot erase yet). */
  readonly privacy?: PrivacyStore;
  /** Per-person data keys for crypto-shredding the event log. */
  readonly dataKeys: DataKeyTable;
  /** The retention log and the selection of inactive profiles. */
  readonly retention: RetentionTable;
  saveDefinitions(rows: DefinitionRow[]): Promise<void>;
  deleteDefinition(name: string): Promise<void>;

  /** Stores a quarantined message (or finds it again: see NewQuarantineRow); its id. */
  quarantine(row: NewQuarantineRow): Promise<number>;
  quarantined(workspace: string, opts?: { status?: QuarantineRow['status']; limit?: number; after?: number }): Promise<QuarantineRow[]>;
  quarantinedById(workspace: string, id: number): Promise<QuarantineRow | undefined>;
  markResubmitted(workspace: string, id: number): Promise<void>;

  saveKey(row: ApiKeyRow): Promise<void>;
  key(id: string): Promise<ApiKeyRow | undefined>;
  keys(workspace?: string): Promise<ApiKeyRow[]>;
  revokeKey(id: string, at: number): Promise<boolean>;

  /** A canonical, ordered dump of all derived state, to compare a rebuild with the incremental state. */
  dump(): Promise<string[]>;
  /** Removes all derived state (profiles, identities, history, positions), keeping definitions and quarantine. */
  clearDerived(): Promise<void>;
  close(): Promise<void>;
}

/** The cache/map key of a workspace-scoped id. */
export function scoped(workspace: string, id: string): string {
  return `${workspace}\u0000${id}`;
}

/** A changeset that writes nothing but the position. */
export function emptyChangeset(partition: number, position: number): Changeset {
  return {
    partition,
    position,
    profiles: [],
    deletedProfiles: [],
    identities: [],
    links: [],
    merges: [],
    identityConflicts: [],
    attributeConflicts: [],
    history: [],
  };
}
