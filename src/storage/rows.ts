/**
 * Row ↔ record mapping shared by the SQL backends: both store the same
 * columns (snake_case, JSON as text), so one set of mappers serves both.
 */
import type { Json } from '../core/event.ts';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../core/identity.ts';
import type { ApiKeyRow, AttributeConflict, DefinitionRow, ErasureRow, HistoryEntry, MembershipChange, OutboxEntry, QuarantineRow, SegmentDefinitionRow } from './store.ts';
import { scoped } from './store.ts';
import { splitTraitChanges } from '../profile/trait-change.ts';
import { openChanges, openConflict, sealChanges, type ValueSealer } from './sealer.ts';

export type Row = Record<string, unknown>;

/** Tables holding state derived from the log; a rebuild empties and refills them. */
export const DERIVED_TABLES = [
  'engine_position',
  'profiles',
  'identities',
  'identity_links',
  'blocked_links',
  'merges',
  'identity_conflicts',
  'attribute_conflicts',
  'trait_history',
] as const;

/** State tables keyed by profile id that an erasure empties of the person (table → counted kind), on both backends. */
export const ERASED_BY_PROFILE: ReadonlyArray<readonly [string, string]> = [
  ['attribute_conflicts', 'attributeConflicts'],
  ['trait_history', 'historyRows'],
  ['segment_members', 'segmentMemberships'],
  ['segment_history', 'membershipHistory'],
  ['segment_schedule', 'schedule'],
  ['profile_tags', 'manualTags'],
  ['outbox', 'outboxRows'],
];

/** Tables the state dump lists row by row, with their order (profiles and history are listed apart). */
export const DUMP_TABLES: ReadonlyArray<readonly [string, string]> = [
  ['identities', 'workspace, ident'],
  ['identity_links', 'workspace, a, b'],
  ['blocked_links', 'workspace, a, b'],
  ['merges', 'seq'],
  ['identity_conflicts', 'seq'],
  ['attribute_conflicts', 'seq'],
];

/** One trait_history row per profile per commit, holding that commit's entries in position order. */
export interface HistoryRow {
  workspace: string;
  profileId: string;
  firstPosition: number;
  lastPosition: number;
  entries: string;
}

export function historyRows(history: readonly HistoryEntry[], sealer?: ValueSealer): HistoryRow[] {
  return historyGroups(history).map((list) => historyRow(list, sealer));
}

/** A commit's history entries grouped by profile (each group in position order): one row each. */
export function historyGroups(history: readonly HistoryEntry[]): HistoryEntry[][] {
  const byProfile = new Map<string, HistoryEntry[]>();
  for (const h of history) {
    const k = scoped(h.workspace, h.profileId);
    const list = byProfile.get(k);
    if (list) list.push(h);
    else byProfile.set(k, [h]);
  }
  return [...byProfile.values()];
}

/** The row of one profile's entries (a group of historyGroups), personal values sealed. */
export function historyRow(list: readonly HistoryEntry[], sealer?: ValueSealer): HistoryRow {
  const rows = list.map((h) => ({ position: h.position, messageId: h.messageId, time: h.time, changes: sealChanges(sealer, h.workspace, h.changes) }));
  return { workspace: list[0]!.workspace, profileId: list[0]!.profileId, firstPosition: list[0]!.position, lastPosition: list[list.length - 1]!.position, entries: JSON.stringify(rows) };
}

/** Newest-first history entries before `before`, from rows read newest commit first. */
export function pageHistory(workspace: string, profileId: string, rows: Iterable<{ entries: string }>, before: number, limit: number, sealer?: ValueSealer): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const row of rows) {
    const entries = JSON.parse(row.entries) as Array<Omit<HistoryEntry, 'workspace' | 'profileId'>>;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.position >= before) continue;
      // Rows written before object-valued trait changes were split by key are read in today's shape.
      out.push({ workspace, profileId, ...e, changes: splitTraitChanges(openChanges(sealer, workspace, e.changes)) });
    }
    if (out.length >= limit) break;
  }
  return out.slice(0, limit);
}

export function toKey(r: Row): ApiKeyRow {
  return {
    id: r.id as string,
    workspace: r.workspace as string,
    secretHash: r.secret_hash as Buffer,
    scopes: JSON.parse(r.scopes as string) as string[],
    label: r.label as string,
    createdAt: r.created_at as number,
    revokedAt: (r.revoked_at as number | null) ?? null,
  };
}

export function toLink(r: Row): IdentityLink {
  return {
    workspace: r.workspace as string,
    a: r.a as string,
    b: r.b as string,
    via: r.via as string,
    position: r.position as number,
    messageId: r.message_id as string,
    time: r.time as number,
  };
}

export function toMerge(r: Row): MergeRecord {
  return {
    kind: r.kind as MergeRecord['kind'],
    workspace: r.workspace as string,
    into: r.into_id as string,
    from: r.from_id as string,
    a: r.a as string,
    b: r.b as string,
    position: r.position as number,
    messageId: r.message_id as string,
    time: r.time as number,
  };
}

export function toIdentityConflict(r: Row): IdentityConflict {
  return {
    workspace: r.workspace as string,
    reason: r.reason as IdentityConflict['reason'],
    a: r.a as string,
    b: r.b as string,
    profileA: r.profile_a as string,
    profileB: r.profile_b as string,
    position: r.position as number,
    messageId: r.message_id as string,
    time: r.time as number,
  };
}

export function toAttributeConflict(r: Row, sealer?: ValueSealer): AttributeConflict {
  return openConflict(sealer, {
    workspace: r.workspace as string,
    profileId: r.profile_id as string,
    attribute: r.attribute as string,
    reason: r.reason as AttributeConflict['reason'],
    kept: JSON.parse(r.kept as string) as Json,
    rejected: JSON.parse(r.rejected as string) as Json,
    position: r.position as number,
    messageId: r.message_id as string,
  });
}

/** A history row's entries (as stored) opened, one by one: what the state dump lists. */
export function openedEntries(workspace: string, entries: string, sealer?: ValueSealer): unknown[] {
  const list = JSON.parse(entries) as Array<{ changes: HistoryEntry['changes'] }>;
  return sealer === undefined ? list : list.map((e) => ({ ...e, changes: openChanges(sealer, workspace, e.changes) }));
}

/** An attribute_conflicts row as the dump lists it: kept and rejected opened (sealing is randomised; plaintext compares). */
export function openedConflictRow(r: Row, sealer?: ValueSealer): Row {
  if (sealer === undefined) return r;
  const c = toAttributeConflict(r, sealer);
  return { ...r, kept: JSON.stringify(c.kept), rejected: JSON.stringify(c.rejected) };
}

export function toDefinition(r: Row): DefinitionRow {
  return {
    name: r.name as string,
    hash: r.hash as string,
    version: r.version as number,
    definition: JSON.parse(r.definition as string) as Json,
    status: r.status as DefinitionRow['status'],
    backfillCursor: r.backfill_cursor as number,
    backfillTarget: r.backfill_target as number,
    updatedAt: r.updated_at as number,
    source: r.source === 'api' ? 'api' : 'config',
  };
}

export function toQuarantine(r: Row): QuarantineRow {
  return {
    id: r.id as number,
    workspace: r.workspace as string,
    receivedAt: r.received_at as number,
    raw: r.raw as string,
    reason: JSON.parse(r.reason as string) as Json,
    status: r.status as QuarantineRow['status'],
  };
}

export function toSegmentDefinition(r: Row): SegmentDefinitionRow {
  return {
    kind: r.kind as SegmentDefinitionRow['kind'],
    name: r.name as string,
    definition: JSON.parse(r.definition as string) as Json,
    hash: r.hash as string,
    version: r.version as number,
    status: r.status as SegmentDefinitionRow['status'],
    cursor: r.cursor as number,
    after: r.after_position as number,
    updatedAt: r.updated_at as number,
    source: r.source as SegmentDefinitionRow['source'],
  };
}

export function toMembershipChange(r: Row): MembershipChange {
  return {
    workspace: r.workspace as string,
    segment: r.segment as string,
    profileId: r.profile_id as string,
    change: r.change as MembershipChange['change'],
    time: r.time as number,
    reason: r.reason as string,
    position: r.position as number,
  };
}

export function toOutboxEntry(r: Row): OutboxEntry & { seq: number } {
  return {
    seq: r.seq as number,
    workspace: r.workspace as string,
    kind: r.kind as OutboxEntry['kind'],
    profileId: r.profile_id as string,
    payload: JSON.parse(r.payload as string) as Json,
    position: r.position as number,
    createdAt: r.created_at as number,
  };
}

/** A row of the erasure ledger. */
export function toErasure(r: Row): ErasureRow {
  return {
    id: r.id as string,
    workspace: r.workspace as string,
    status: r.status as ErasureRow['status'],
    requestedAt: r.requested_at as number,
    completedAt: (r.completed_at as number | null) ?? null,
    keyId: (r.key_id as string | null) ?? null,
    counts: JSON.parse(r.counts as string) as Record<string, number>,
  };
}
